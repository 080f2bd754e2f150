// createNetns/removeNetns against the real kernel: needs root (unshare(CLONE_NEWNET), mount).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { describeAsRoot, installed, itAsRoot } from '../test/support/root.ts';
import { connectInNetns, createNetns, removeNetns } from './netns.ts';

const base = mkdtempSync('/tmp/berth-netns-');
let n = 0;
const made: string[] = [];

/** A fresh path in the temp dir, removed (unmounted) after the suite. */
function nsPath(): string {
  const p = join(base, `ns${n++}`);
  made.push(p);
  return p;
}

afterAll(() => {
  for (const p of made) removeNetns(p);
  rmSync(base, { recursive: true, force: true });
});

/** The filesystem types mounted on path in this process's mount table (none: []). */
function mountsAt(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[4] === path)
    .map((fields) => fields[fields.indexOf('-') + 1]!);
}

const nsfsMountedAt = (path: string) => mountsAt(path).includes('nsfs');

describeAsRoot('createNetns', [installed('nsenter'), installed('ip')], () => {
  itAsRoot('binds a new network namespace, its lo up, on a new 0444 file, leaving the caller in its own', () => {
    const before = statSync('/proc/self/ns/net').ino;
    const threadBefore = statSync('/proc/thread-self/ns/net').ino;
    const p = nsPath();
    createNetns(p);
    const st = statSync(p);
    expect(nsfsMountedAt(p)).toBe(true);
    expect(st.ino).not.toBe(before);
    expect(st.mode & 0o777).toBe(0o444);
    expect(statSync('/proc/self/ns/net').ino).toBe(before);
    expect(statSync('/proc/thread-self/ns/net').ino).toBe(threadBefore);

    const r = spawnSync('nsenter', [`--net=${p}`, 'ip', '-br', 'link'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['lo']);
    // lo is up: 127.0.0.1 answers inside (as after CNI's loopback plugin)
    expect(spawnSync('nsenter', [`--net=${p}`, 'ip', '-br', 'link', 'show', 'lo'], { encoding: 'utf8' }).stdout).toMatch(/\bUP\b|UNKNOWN/);
    expect(spawnSync('nsenter', [`--net=${p}`, 'ip', '-br', 'addr', 'show', 'lo'], { encoding: 'utf8' }).stdout).toContain('127.0.0.1/8');
  });

  itAsRoot('makes a different namespace each time', () => {
    const a = nsPath();
    const b = nsPath();
    createNetns(a);
    createNetns(b);
    expect(statSync(a).ino).not.toBe(statSync(b).ino);
  });

  itAsRoot('refuses an existing file (EEXIST) and leaves it alone', () => {
    const p = nsPath();
    writeFileSync(p, 'mine');
    expect(() => createNetns(p)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'open', path: p }));
    expect(readFileSync(p, 'utf8')).toBe('mine');
    expect(nsfsMountedAt(p)).toBe(false);
  });

  itAsRoot('fails with ENOENT for a missing parent directory, leaving nothing', () => {
    const p = join(base, 'missing', 'ns');
    expect(() => createNetns(p)).toThrow(expect.objectContaining({ code: 'ENOENT', errno: -2 }));
    expect(existsSync(p)).toBe(false);
  });

  itAsRoot('rejects a path that is not a string or bytes', () => {
    expect(() => createNetns(42 as unknown as string)).toThrow(TypeError);
  });
});

describeAsRoot('removeNetns', () => {
  itAsRoot('unmounts and removes the file', () => {
    const p = nsPath();
    createNetns(p);
    expect(mountsAt(p)).toEqual(['nsfs']);
    removeNetns(p);
    expect(existsSync(p)).toBe(false);
    expect(mountsAt(p)).toEqual([]);
  });

  itAsRoot('is fine with a path that is gone, or a plain file that is not a mount', () => {
    const p = nsPath();
    removeNetns(p);
    writeFileSync(p, '');
    removeNetns(p);
    expect(existsSync(p)).toBe(false);
  });
});

describeAsRoot('connectInNetns', [installed('nsenter'), installed('ip'), installed('python3')], () => {
  /** A one-shot TCP server on 127.0.0.1:port inside the namespace at p: says hello, echoes one read back, exits. */
  async function serveIn(p: string, port: number) {
    const script = [
      'import socket',
      's = socket.socket()',
      `s.bind(("127.0.0.1", ${port}))`,
      's.listen()',
      'print("ready", flush=True)',
      'c, _ = s.accept()',
      'c.sendall(b"hello from the namespace\\n")',
      'c.sendall(c.recv(100))',
      'c.close()',
    ].join('\n');
    const child = spawn('nsenter', [`--net=${p}`, 'sh', '-c', `ip link set lo up && exec python3 -c '${script}'`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
    });
    return child;
  }

  itAsRoot("connects to 127.0.0.1:port inside the namespace, not the host's, and the socket carries both ways", async () => {
    const p = nsPath();
    createNetns(p);
    const before = statSync('/proc/thread-self/ns/net').ino;
    const server = await serveIn(p, 8123);
    try {
      const s = await connectInNetns(p, 8123);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.write('ping\n');
      await new Promise((r) => s.once('end', r));
      s.destroy();
      expect(Buffer.concat(chunks).toString()).toBe('hello from the namespace\nping\n');
    } finally {
      server.kill();
    }
    expect(statSync('/proc/thread-self/ns/net').ino).toBe(before);
  });

  itAsRoot('fails as connect does: ECONNREFUSED for a closed port, ENOENT for a missing file, EINVAL for a file that is no namespace', async () => {
    const p = nsPath();
    createNetns(p);
    await expect(connectInNetns(p, 9)).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
    await expect(connectInNetns(join(base, 'missing'), 80)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    const plain = join(base, 'plain');
    writeFileSync(plain, '');
    await expect(connectInNetns(plain, 80)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'setns' });
    await expect(connectInNetns(p, 0)).rejects.toThrow(RangeError);
    await expect(connectInNetns(p, 70000)).rejects.toThrow(RangeError);
  });
});
