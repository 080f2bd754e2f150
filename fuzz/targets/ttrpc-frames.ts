import { decodeRequest, encodeRequest } from '../../transport/ttrpc/envelope.ts';
import { encodeFrame, type Frame, FrameReader, FrameType, headerSize, maxDataSize, type ReadEvent } from '../../transport/ttrpc/frames.ts';
import { check, type FuzzTarget } from './index.ts';

// protobufjs refuses bad bytes with a RangeError ("index out of range") or an Error of its own
const isDecodeRefusal = (err: unknown) => err instanceof Error;

/**
 * ttrpc's frames as a server reads them, the stream cut into chunks of the size the first byte
 * gives: whole frames within 4 MiB and oversize headers, no more bytes out than in, nothing held
 * beyond what came in; framing the frames again reads them back; and a Request frame's data is
 * refused or decodes to an envelope that encodes and decodes to itself.
 */
export const target: FuzzTarget = {
  name: 'ttrpc-frames',
  maxLength: 8192,
  alsoCover: ['protobufjs'],
  dictionary: ['\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00', '\x00\x40\x00\x01', '\x00\x00\x00\x02\x02\x00', '\x0a\x12containerd.task.v2.Task\x12\x05State'],
  fuzz(data) {
    if (data.length === 0) return;
    const chunk = 1 + data[0]!;
    const stream = data.subarray(1);
    const reader = new FrameReader();
    const events: ReadEvent[] = [];
    for (let at = 0; at < stream.length; at += chunk) {
      events.push(...reader.push(stream.subarray(at, at + chunk)));
      check(reader.buffered <= stream.length, 'holds no more than came in', reader.buffered);
    }
    let total = 0;
    const frames: Frame[] = [];
    for (const e of events) {
      if (e.kind === 'oversize') {
        check(e.length > maxDataSize, 'an oversize frame is over the limit', e.length);
        total += headerSize;
        continue;
      }
      check(e.frame.data.length <= maxDataSize, 'a frame within the limit', e.frame.data.length);
      total += headerSize + e.frame.data.length;
      frames.push(e.frame);
      if (e.frame.type !== FrameType.Request) continue;
      let request: ReturnType<typeof decodeRequest>;
      try {
        request = decodeRequest(e.frame.data);
      } catch (err) {
        if (!isDecodeRefusal(err)) throw err;
        continue;
      }
      const again = decodeRequest(encodeRequest(request));
      check(JSON.stringify(again) === JSON.stringify(request), 'a decoded request encodes and decodes to itself');
    }
    check(total <= stream.length, 'no more bytes out than in', { total, in: stream.length });
    const reframed = Buffer.concat(frames.map((f) => encodeFrame(f.streamId, f.type, f.data, f.flags)));
    const back = new FrameReader().push(reframed);
    check(
      back.length === frames.length &&
        back.every((e, i) => e.kind === 'frame' && e.frame.streamId === frames[i]!.streamId && e.frame.data.equals(frames[i]!.data)),
      'framing the frames again reads them back',
    );
  },
};
