import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExitCodeError, readJsonValues, statusJson, TerminalSizes } from './remotecommand.ts';

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

  it('TerminalSizes: the first size is waited for (at most so long), every listener gets each size, a late one the latest', async () => {
    const s = new PassThrough();
    const sizes = new TerminalSizes(s);
    const first = sizes.firstSize(5000);
    s.write('{"Width":100,"Height":30}');
    expect(await first).toEqual({ width: 100, height: 30 });
    const seen: unknown[] = [];
    sizes.onResize((size) => seen.push(size));
    s.write('{"Width":"x","Height":1}{"Width":120,"Height":40}');
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([
      { width: 100, height: 30 },
      { width: 120, height: 40 },
    ]);
    // none sent: undefined after the wait, or at once when the stream ended or there is none
    const quiet = new TerminalSizes(new PassThrough());
    const t0 = Date.now();
    expect(await quiet.firstSize(50)).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const ended = new PassThrough();
    const gone = new TerminalSizes(ended);
    const waiting = gone.firstSize(60_000);
    ended.end();
    ended.resume();
    expect(await waiting).toBeUndefined();
    expect(await new TerminalSizes(undefined).firstSize(60_000)).toBeUndefined();
  });
});
