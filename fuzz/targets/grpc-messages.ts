import { framePrefix, MessageReader } from '../../transport/grpc/frames.ts';
import { GrpcStatus } from '../../transport/grpc/status.ts';
import { check, type FuzzTarget } from './index.ts';

const maxMessageSize = 1024;
const isStatus = (e: unknown) =>
  typeof e === 'object' &&
  e !== null &&
  ((e as { code?: unknown }).code === GrpcStatus.RESOURCE_EXHAUSTED || (e as { code?: unknown }).code === GrpcStatus.INTERNAL);

/**
 * gRPC's length-prefixed messages, the stream cut into chunks of the size the first byte gives:
 * refused with a RESOURCE_EXHAUSTED or INTERNAL status, or messages within the limit that add up
 * to no more than what came in; and framing the messages again reads back the same messages.
 */
export const target: FuzzTarget = {
  name: 'grpc-messages',
  maxLength: 8192,
  dictionary: ['\x00\x00\x00\x00\x00', '\x00\x00\x00\x04\x00', '\x01\x00\x00\x00\x01', '\x00\xff\xff\xff\xff', '\x00\x00\x00\x04\x01'],
  fuzz(data) {
    if (data.length === 0) return;
    const chunk = 1 + data[0]!;
    const stream = data.subarray(1);
    const reader = new MessageReader(maxMessageSize);
    const messages: Buffer[] = [];
    try {
      for (let at = 0; at < stream.length; at += chunk) messages.push(...reader.push(stream.subarray(at, at + chunk)));
    } catch (err) {
      if (!isStatus(err)) throw err;
    }
    let total = 0;
    for (const m of messages) {
      check(m.length <= maxMessageSize, 'a message within the limit', m.length);
      total += 5 + m.length;
    }
    check(total <= stream.length, 'no more bytes out than in', { total, in: stream.length });
    const framed = Buffer.concat(messages.flatMap((m) => [framePrefix(m.length), m]));
    const again = new MessageReader(maxMessageSize).push(framed);
    check(again.length === messages.length && again.every((m, i) => m.equals(messages[i]!)), 'framing the messages again reads them back');
  },
};
