import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/util.ts';
import { attachTo } from './attach.ts';
import type { RemoteIo } from './remotecommand.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-attach-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (stream: string, tag: string, text: string) => `2026-12-07T07:00:00.000000000Z ${stream} ${tag} ${text}\n`;

function client(): { io: RemoteIo; out: () => string; err: () => string; stdin: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c));
  stderr.on('data', (c: Buffer) => (err += c));
  return { io: { stdin, stdout, stderr, tty: false, onResize: () => undefined, firstSize: async () => undefined }, out: () => out, err: () => err, stdin };
}

describe('attachTo', () => {
  it("sends what the CRI log gets from now on, each line's message to its stream, P pieces joined; stdin goes to the container's", async () => {
    const log = join(dir, 'a.log');
    writeFileSync(log, line('stdout', 'F', 'before the attach'));
    const c = client();
    const containerStdin = new PassThrough();
    let typed = '';
    containerStdin.on('data', (d: Buffer) => (typed += d));
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const done = attachTo({ tty: false, logPath: log, stdin: containerStdin, stdinOnce: false }, c.io, exited, new AbortController().signal);
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(log, line('stdout', 'F', 'hello') + line('stderr', 'F', 'oops') + line('stdout', 'P', 'part one, ') + line('stdout', 'F', 'part two'));
    c.stdin.write('echo hi\n');
    expect(await eventually(c.out, (o) => o.includes('part two'))).toBe('hello\npart one, part two\n');
    expect(c.err()).toBe('oops\n');
    expect(
      await eventually(
        () => typed,
        (t) => t !== '',
      ),
    ).toBe('echo hi\n');
    // the log rotated: the new file is read from its start
    renameSync(log, `${log}.1`);
    writeFileSync(log, line('stdout', 'F', 'after rotation'));
    expect(await eventually(c.out, (o) => o.includes('rotation'))).toContain('after rotation\n');
    // what the container wrote just before it exited still comes
    appendFileSync(log, line('stdout', 'F', 'last words'));
    exit();
    await done;
    expect(c.out()).toMatch(/last words\n$/);
    // without stdin_once the container's stdin outlives the attach
    c.stdin.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(containerStdin.writableEnded).toBe(false);
  });

  it("a container without stdin: the client's stdin is read and dropped", async () => {
    const log = join(dir, 'c.log');
    writeFileSync(log, '');
    const c = client();
    const abort = new AbortController();
    const done = attachTo({ tty: false, logPath: log, stdin: null, stdinOnce: false }, c.io, new Promise(() => undefined), abort.signal);
    await new Promise((r) => setTimeout(r, 50));
    c.stdin.write(Buffer.alloc(256 * 1024));
    await eventually(
      () => c.stdin.readableLength,
      (n) => n === 0,
    );
    expect(c.stdin.readableLength).toBe(0);
    abort.abort();
    await done;
  });

  it("with stdin_once the end of the client's stdin is the end of the container's; the client going away ends the attach", async () => {
    const log = join(dir, 'b.log');
    writeFileSync(log, '');
    const c = client();
    const containerStdin = new PassThrough();
    containerStdin.resume();
    const abort = new AbortController();
    const done = attachTo({ tty: false, logPath: log, stdin: containerStdin, stdinOnce: true }, c.io, new Promise(() => undefined), abort.signal);
    await new Promise((r) => setTimeout(r, 50));
    c.stdin.end('bye\n');
    await eventually(
      () => containerStdin.writableEnded,
      (e) => e,
    );
    expect(containerStdin.writableEnded).toBe(true);
    abort.abort();
    await done;
  });
});
