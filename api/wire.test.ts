import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codec, methodDefinition, ServiceRef } from './codec.ts';
import { descriptorDir, readDescriptor } from './descriptor-files.ts';
import { loadOptions } from './load-options.ts';
import * as services from './services.ts';
import { decodeMessage, descriptorOf, encodeMessage, type MessageType, wireMethod } from './wire.ts';

/** Every message type of every descriptor the build wrote: [folder, full name]. */
function allMessageTypes(): [string, string][] {
  const out: [string, string][] = [];
  const index = JSON.parse(readDescriptor('type-index.json')) as Record<string, string>;
  const files = new Set(readdirSync(descriptorDir));
  for (const [name, dir] of Object.entries(index)) {
    if (!files.has(`${dir.split('/').join('_')}.json`)) continue;
    const d = descriptorOf(dir);
    if (d.type(name).kind === 'message') out.push([dir, name]);
  }
  return out;
}

/** A small deterministic generator: a failure names a seed that fails again. */
function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

/** A random object of a message type, as a caller would pass it: some fields left out, some set to their default. */
function sample(type: MessageType, rnd: () => number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pickInt = (max: number) => Math.floor(rnd() * max);
  const scalar = (t: string): unknown => {
    switch (t) {
      case 'string':
        return ['', 'a', 'ünï©ødé ✓', 'x'.repeat(200), 'k=v'][pickInt(5)];
      case 'bytes':
        return Buffer.from(Array.from({ length: pickInt(5) }, () => pickInt(256)));
      case 'bool':
        return rnd() < 0.5;
      case 'double':
        return [0, 0.5, -2, 1e10, 3][pickInt(5)];
      case 'int32':
        return [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 300][pickInt(6)];
      case 'int64':
        return [0, 1, -1, 2 ** 40, -(2 ** 50), Number.MAX_SAFE_INTEGER][pickInt(6)];
      default:
        return [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 33, Number.MAX_SAFE_INTEGER][pickInt(t === 'uint32' ? 5 : 7)];
    }
  };
  const value = (t: unknown): unknown => {
    if (typeof t === 'string') return scalar(t);
    const typed = t as { kind: string; byName?: Map<string, number> };
    if (typed.kind === 'enum') return [...typed.byName!.keys()][pickInt(typed.byName!.size)];
    return depth > 3 ? {} : sample(t as MessageType, rnd, depth + 1);
  };
  for (const f of type.fields) {
    if (rnd() < 0.3) continue;
    if (f.key !== undefined) out[f.name] = Object.fromEntries(Array.from({ length: pickInt(3) }, (_, i) => [`key${i}${pickInt(9)}`, value(f.type)]));
    else if (f.repeated) out[f.name] = Array.from({ length: pickInt(4) }, () => value(f.type));
    else out[f.name] = value(f.type);
  }
  return out;
}

describe('api/wire.ts against protobufjs (api/codec.ts)', () => {
  const types = allMessageTypes();

  it('finds the message types of every descriptor', () => {
    expect(types.length).toBeGreaterThan(100);
    expect(types.map(([, n]) => n)).toContain('berth.services.run.v1.RunRequest');
    expect(types.map(([, n]) => n)).toContain('containerd.services.tasks.v1.KillRequest');
  });

  it('writes the bytes protobufjs writes and decodes them into the same objects, for every message type', () => {
    let compared = 0;
    let samples = 0;
    for (const [dir, name] of types) {
      const ours = descriptorOf(dir).message(name);
      const theirs = codec(name);
      const rnd = random(name.length * 7919);
      // berth run's own messages (the fast path's) the most
      const count = name.startsWith('berth.services.run.') ? 400 : 25;
      samples += count;
      for (let i = 0; i < count; i++) {
        const message = sample(ours, rnd);
        const expected = Buffer.from(theirs.encode(theirs.fromObject(message)).finish());
        const bytes = encodeMessage(ours, message);
        expect(bytes.toString('hex'), `${name} #${i}: ${JSON.stringify(message)}`).toBe(expected.toString('hex'));
        expect(decodeMessage(ours, bytes), `${name} #${i}`).toEqual(theirs.toObject(theirs.decode(bytes), loadOptions));
        compared++;
      }
    }
    expect(compared).toBe(samples);
  });

  it('decodes what it does not write itself: unpacked repeated numbers, unknown fields, fields given twice', () => {
    const [dir, name] = types.find(([, n]) => {
      const t = descriptorOf(types.find(([, m]) => m === n)![0]).message(n);
      return t.fields.some((f) => f.repeated && f.type === 'uint64');
    })!;
    const ours = descriptorOf(dir).message(name);
    const theirs = codec(name);
    const field = ours.fields.find((f) => f.repeated && f.type === 'uint64')!;
    // field given unpacked twice, an unknown varint field 1000, a second copy of the same unpacked field
    const tag = (id: number, wt: number) => Buffer.from([(((id << 3) | wt) & 0x7f) | 0x80, (id << 3) >> 7]);
    const bytes = Buffer.concat([Buffer.from([(field.id << 3) | 0, 5]), tag(1000, 0), Buffer.from([7]), Buffer.from([(field.id << 3) | 0, 9])]);
    expect(decodeMessage(ours, bytes)).toEqual(theirs.toObject(theirs.decode(bytes), loadOptions));
    expect(decodeMessage(ours, bytes)[field.name]).toEqual([5, 9]);
  });

  it('gives every method of api/services.ts the path, streaming and codecs protobufjs gives it', () => {
    let methods = 0;
    for (const service of Object.values(services)) {
      if (typeof service !== 'object' || !('kinds' in service)) continue;
      for (const method of Object.keys(service.kinds)) {
        const ours = wireMethod(service, method);
        const theirs = methodDefinition(new ServiceRef(service.dir, service.name), method);
        expect([ours.path, ours.requestStream, ours.responseStream]).toEqual([theirs.path, theirs.requestStream, theirs.responseStream]);
        const request = { container_id: 'c1', exec_id: '', id: 'x', name: 'n', signal: 9, stdin: true };
        expect(ours.requestSerialize(request).toString('hex'), `${service.name}/${method}`).toBe(theirs.requestSerialize(request).toString('hex'));
        methods++;
      }
    }
    expect(methods).toBeGreaterThan(80);
  });
});
