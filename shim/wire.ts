// A few hand-written protobuf encodings for the subcommands, which must not pay for loading
// protobufjs and the .proto files.

function varint(n: bigint): number[] {
  const out: number[] = [];
  // negative int64 values are encoded as their two's complement in 10 bytes
  let v = BigInt.asUintN(64, n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

function field(num: number, wire: number): number[] {
  return varint(BigInt((num << 3) | wire));
}

function timestamp(ms: number): number[] {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  const out: number[] = [];
  if (seconds !== 0) out.push(...field(1, 0), ...varint(BigInt(seconds)));
  if (nanos !== 0) out.push(...field(2, 0), ...varint(BigInt(nanos)));
  return out;
}

/** containerd.task.v2.DeleteResponse{1 pid, 2 exit_status, 3 exited_at} */
export function encodeDeleteResponse(pid: number, exitStatus: number, exitedAtMs: number): Buffer {
  const out: number[] = [];
  if (pid) out.push(...field(1, 0), ...varint(BigInt(pid)));
  if (exitStatus) out.push(...field(2, 0), ...varint(BigInt(exitStatus)));
  const ts = timestamp(exitedAtMs);
  out.push(...field(3, 2), ...varint(BigInt(ts.length)), ...ts);
  return Buffer.from(out);
}
