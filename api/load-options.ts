// How .proto messages map to JavaScript objects. The generated types in api/gen and the
// runtime loader must agree on these, so both read them from here.
export const loadOptions = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
} as const;

export const genTypesArgs = [
  '--keepCase',
  '--longs=Number',
  '--enums=String',
  '--defaults',
  '--arrays',
  '--oneofs',
  '--grpcLib=@grpc/grpc-js',
  '--importFileExtension=.ts',
];
