import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExitCodeError, readJsonValues, statusJson } from './remotecommand.ts';

describe('remotecommand error stream', () => {
  it("writes the metav1.Status client-go's v4 decoder reads: Success, NonZeroExitCode with the code as the ExitCode cause, InternalError", () => {
    expect(JSON.parse(statusJson(undefined))).toEqual({ metadata: {}, status: 'Success' });
    expect(JSON.parse(statusJson(new ExitCodeError(3, ['sh', '-c', 'exit 3'])))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(JSON.parse(statusJson(new Error('container gone')))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'container gone',
      reason: 'InternalError',
      code: 500,
    });
  });
});

describe('the resize stream', () => {
  it('reads JSON values one after another however the bytes are cut, with or without newlines', async () => {
    const s = new PassThrough();
    const got: unknown[] = [];
    readJsonValues(s, (v) => got.push(v));
    const text = '{"Width":80,"Height":24}\n{"Width":100,"Height":40}{"Width":1,"Height":"}{"}\n';
    for (const c of text) s.write(c);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([
      { Width: 80, Height: 24 },
      { Width: 100, Height: 40 },
      { Width: 1, Height: '}{' },
    ]);
  });

  it('stops reading at something that is not JSON, or a value over 4 KiB', async () => {
    const bad = new PassThrough();
    readJsonValues(bad, () => undefined);
    bad.write('{"Width":80,,}');
    await new Promise((r) => setImmediate(r));
    expect(bad.destroyed).toBe(true);
    const big = new PassThrough();
    readJsonValues(big, () => undefined);
    big.write(`{"x":"${'a'.repeat(5000)}`);
    await new Promise((r) => setImmediate(r));
    expect(big.destroyed).toBe(true);
  });
});
