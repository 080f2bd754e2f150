import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { H2Connection } from '../../transport/h2/connection.ts';
import { CLIENT_PREFACE, ErrorCode, FRAME_HEADER, FrameType, settingsFrame } from '../../transport/h2/frames.ts';
import { check, type FuzzTarget } from './index.ts';

/** What the connection wrote, cut into frames; fails if the bytes are not whole frames. */
function framesOf(out: Buffer): Array<{ type: number; payload: Buffer }> {
  const frames: Array<{ type: number; payload: Buffer }> = [];
  let at = 0;
  while (at < out.length) {
    check(at + FRAME_HEADER <= out.length, 'the connection writes whole frame headers');
    const length = out.readUIntBE(at, 3);
    check(at + FRAME_HEADER + length <= out.length, 'the connection writes whole frames');
    frames.push({ type: out[at + 3]!, payload: out.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length) });
    at += FRAME_HEADER + length;
  }
  return frames;
}

/**
 * The HTTP/2 connection reading a peer's frames (a server, or with the first byte odd a client
 * with one request open): whatever comes, it writes whole frames and, when it gives up, a GOAWAY
 * naming a protocol error, never INTERNAL_ERROR (which is what an exception inside the parser
 * becomes). Streams are answered and echoed, so DATA, trailers and flow control are reached.
 */
export const target: FuzzTarget = {
  name: 'h2-frames',
  maxLength: 8192,
  dictionary: [
    '\x00\x00\x00\x04\x00\x00\x00\x00\x00',
    '\x00\x00\x00\x04\x01\x00\x00\x00\x00',
    '\x00\x00\x08\x06\x00\x00\x00\x00\x00',
    '\x00\x00\x04\x08\x00\x00\x00\x00\x01',
    '\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x87\x84\x41\x00',
    '\x00\x00\x00\x01\x04\x00\x00\x00\x01',
    '\x00\x00\x00\x09\x04\x00\x00\x00\x01',
    '\x00\x00\x05\x00\x01\x00\x00\x00\x01',
    '\x00\x00\x04\x03\x00\x00\x00\x00\x01',
    '\x00\x00\x08\x07\x00\x00\x00\x00\x00',
    '\x00\x00\x05\x02\x00\x00\x00\x00\x03',
    '\x00\x04',
    '\x00\x05',
    '\x7f\xff\xff\xff',
    '\x08',
    '\x20',
  ],
  fuzz(data) {
    const client = data.length > 0 && (data[0]! & 1) === 1;
    const written: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk);
        done();
      },
    });
    const conn = new H2Connection(socket as unknown as Socket, {
      role: client ? 'client' : 'server',
      streamWindow: 4096,
      connectionWindow: 65535,
      maxFrameSize: 16384,
    });
    conn.onStream = (stream) => {
      stream.respond([[':status', '200']]);
      stream.onData = (chunk) => stream.write(chunk);
      stream.onEnd = () => stream.end([['grpc-status', '0']]);
    };
    if (client) {
      const stream = conn.request([
        [':method', 'POST'],
        [':path', '/x'],
        [':scheme', 'http'],
        [':authority', 'berth'],
      ]);
      stream.write(Buffer.alloc(100_000, 1));
      stream.end();
    } else {
      socket.emit('data', CLIENT_PREFACE);
    }
    socket.emit('data', settingsFrame([]));
    socket.emit('data', data.subarray(1));
    // a client's output opens with the preface, then frames
    for (const f of framesOf(Buffer.concat(written).subarray(client ? CLIENT_PREFACE.length : 0))) {
      if (f.type !== FrameType.GOAWAY) continue;
      const code = f.payload.readUInt32BE(4);
      check(code !== ErrorCode.INTERNAL_ERROR, 'no exception escapes the frame parser', f.payload.subarray(8).toString());
    }
    conn.destroy();
  },
};
