import { describe, expect, it } from 'vitest';
import { codec } from '../api/codec.ts';
import { parseArgs, toArgv } from './args.ts';
import { deleteResponse } from './delete.ts';
import { groupId, socketPath } from './paths.ts';

describe('shim flags', () => {
  it('reads Go-style flags and the action', () => {
    const a = parseArgs(['-namespace', 'ns', '--address=/run/b.sock', '-publish-binary', '/bin/berthd', '-id', 'c1', '-debug', '-bundle', '/b', 'delete']);
    expect(a).toEqual({ namespace: 'ns', address: '/run/b.sock', publishBinary: '/bin/berthd', id: 'c1', bundle: '/b', debug: true, action: 'delete' });
    expect(parseArgs(toArgv(a))).toEqual({ ...a, bundle: '', action: '' });
  });

  it('rejects unknown flags, missing values and a second action', () => {
    expect(() => parseArgs(['-nope', 'x'])).toThrow(/unknown flag/);
    expect(() => parseArgs(['-id'])).toThrow(/needs a value/);
    expect(() => parseArgs(['start', 'delete'])).toThrow(/unexpected argument/);
  });
});

describe('shim paths', () => {
  it('puts the socket under <state>/s at a fixed length, whatever the namespace and id', () => {
    const long = socketPath('/run/berth', '/run/berth/berth.sock', 'n'.repeat(76), 'c'.repeat(64));
    expect(long).toMatch(/^\/run\/berth\/s\/[0-9a-f]{64}$/);
    expect(Buffer.byteLength(long)).toBeLessThan(108);
    expect(socketPath('/s', 'a', 'ns', 'x')).not.toBe(socketPath('/s', 'a', 'ns', 'y'));
  });

  it('groups by the io.containerd.runc.v2.group annotation', () => {
    expect(groupId('c1', { annotations: { 'io.containerd.runc.v2.group': 'g' } })).toBe('g');
    expect(groupId('c1', { annotations: {} })).toBe('c1');
    expect(groupId('c1', undefined)).toBe('c1');
  });
});

describe('DeleteResponse encoding', () => {
  it('decodes with the .proto definition', () => {
    const type = codec('containerd.task.v2.DeleteResponse');
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const res = type.toObject(type.decode(deleteResponse(4242, 137, at)), { longs: Number, defaults: true }) as {
      pid: number;
      exit_status: number;
      exited_at: { seconds: number; nanos: number };
    };
    expect(res).toEqual({ pid: 4242, exit_status: 137, exited_at: { seconds: Math.floor(at / 1000), nanos: 678_000_000 } });
    const zero = type.toObject(type.decode(deleteResponse(0, 0, 0)), { longs: Number, defaults: true });
    expect(zero).toMatchObject({ pid: 0, exit_status: 0 });
  });
});
