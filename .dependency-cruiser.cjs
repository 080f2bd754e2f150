// The layering rule of docs/architecture.md, checked by `npm run deps` (CI runs it):
// api is the contract, core the shared libraries, transport the wire; daemon and ctl are
// programs that use those three layers (and native) and never each other.
const production = '^(api|core|transport|daemon|ctl|native)/';
const testCode = '(^(test|bench|fuzz)/)|[.]test[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'api-is-the-contract',
      comment: 'api/ holds the .proto contract, its generated types and the codec: it depends on nothing of ours',
      severity: 'error',
      from: { path: '^api/' },
      to: { path: '^(core|transport|daemon|ctl|native|test|bench|fuzz)/' },
    },
    {
      name: 'core-is-a-library',
      comment: 'core/ may use api/ and itself only',
      severity: 'error',
      from: { path: '^core/', pathNot: testCode },
      to: { path: '^(transport|daemon|ctl|native|test|bench|fuzz)/' },
    },
    {
      name: 'transport-below-programs',
      comment: 'transport/ (HTTP/2, gRPC, clients) may use api/ and core/ only',
      severity: 'error',
      from: { path: '^transport/', pathNot: testCode },
      to: { path: '^(daemon|ctl|native|test|bench|fuzz)/' },
    },
    {
      name: 'native-below-programs',
      comment: 'native/ (the addon and mount helpers) may use core/ only',
      severity: 'error',
      from: { path: '^native/', pathNot: testCode },
      to: { path: '^(api|transport|daemon|ctl|test|bench|fuzz)/' },
    },
    {
      name: 'daemon-is-a-program',
      severity: 'error',
      from: { path: '^daemon/' },
      to: { path: '^ctl/' },
    },
    {
      name: 'ctl-is-a-program',
      severity: 'error',
      from: { path: '^ctl/' },
      to: { path: '^daemon/' },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      from: { path: production, pathNot: testCode },
      to: { path: testCode },
    },
    {
      name: 'one-codec',
      comment: 'protobuf messages are encoded through api/codec.ts (and core/any.ts) only: protobufjs is imported in api/ and tests',
      severity: 'error',
      from: { path: production, pathNot: `^api/|${testCode}` },
      to: { path: 'node_modules/protobufjs/' },
    },
    {
      name: 'no-proto-loader-at-run-time',
      comment: "production code uses the build's descriptors; @grpc/proto-loader (a devDependency) is for tests and api/gen types",
      severity: 'error',
      from: { path: production, pathNot: testCode },
      to: { path: 'node_modules/@grpc/proto-loader/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable-imports',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
