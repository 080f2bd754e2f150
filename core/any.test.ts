// The one codec (api/codec.ts, over the build's descriptors) as core/any.ts uses it.
import { describe, expect, it } from 'vitest';
import { codec, findCodec } from '../api/codec.ts';
import { decodeAny, encodeAny, packAny, unpackAny } from './any.ts';

describe('codec', () => {
  it('finds a message type by its full name in the descriptor of its folder', () => {
    const type = codec('containerd.events.TaskExit');
    const bytes = type.encode(type.fromObject({ container_id: 'c', pid: 7, exit_status: 137 })).finish();
    expect(type.toObject(type.decode(bytes))).toMatchObject({ container_id: 'c', pid: 7, exit_status: 137 });
    // a type imported by several folders is one name too
    expect(codec('google.protobuf.Timestamp').fullName).toBe('.google.protobuf.Timestamp');
  });

  it('knows no names but full ones of api/proto', () => {
    expect(findCodec('containerd.events.NoSuchEvent')).toBeUndefined();
    expect(findCodec('TaskExit')).toBeUndefined();
    expect(findCodec('__proto__')).toBeUndefined();
    expect(() => codec('containerd.events.NoSuchEvent')).toThrow(/no message type containerd\.events\.NoSuchEvent/);
  });
});

describe('Any', () => {
  it('packs and unpacks a message under its bare type URL, and a prefixed one', () => {
    const any = packAny('containerd.events.TaskOOM', { container_id: 'c1' });
    expect(any.type_url).toBe('containerd.events.TaskOOM');
    expect(unpackAny(any)).toEqual({ typeName: 'containerd.events.TaskOOM', message: { container_id: 'c1' } });
    expect(unpackAny({ ...any, type_url: 'type.googleapis.com/containerd.events.TaskOOM' }).message).toEqual({ container_id: 'c1' });
  });

  it('refuses an unknown type as InvalidArgument', () => {
    expect(() => unpackAny({ type_url: 'example.com/x.Y', value: Buffer.alloc(0) })).toThrow(
      expect.objectContaining({ name: 'BerthError', code: 'InvalidArgument' }),
    );
  });

  it('encodes a whole Any and decodes it back; none encodes as nothing', () => {
    const any = packAny('containerd.runc.v1.Options', { binary_name: 'crun' });
    expect(decodeAny(encodeAny(any))).toEqual({ type_url: any.type_url, value: Buffer.from(any.value) });
    expect(encodeAny(null)).toHaveLength(0);
  });
});
