// Tests of the native descriptor-passing and terminal-size calls (recvFd, setWinsize,
// getWinsize), against a real peer: a python3 child whose stdin is one end of the unix
// socketpair Node creates for a 'pipe' stdio (Node never reads from a child's stdin).
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as n from './index.ts';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fdpass-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

/** Starts python3 running `code` with `s` = a socket over its stdin. */
function peer(code: string, env: Record<string, string> = {}): { child: ChildProcess; fd: number; exited: Promise<number | null> } {
  const child = spawn('python3', ['-c', `import os, socket, time\ns = socket.socket(fileno=0)\n${code}`], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
  });
  const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, fd, exited };
}

async function poll<T>(fn: () => T | null, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function openFds(): string[] {
  return fs.readdirSync('/proc/self/fd');
}

describe('recvFd', () => {
  it('receives a descriptor sent with SCM_RIGHTS, close-on-exec, and null before it arrives', async () => {
    const file = path.join(base, 'passed');
    fs.writeFileSync(file, 'through the socket');
    const p = peer(`time.sleep(0.3)\nf = os.open(os.environ['FILE'], os.O_RDONLY)\nsocket.send_fds(s, [b'/dev/pts/0'], [f])\ns.close()\ntime.sleep(1)`, {
      FILE: file,
    });
    expect(n.recvFd(p.fd)).toBeNull();
    const fd = await poll(() => n.recvFd(p.fd));
    try {
      expect(fs.readFileSync(fd, 'utf8')).toBe('through the socket');
      const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      // flags are octal; O_CLOEXEC is 02000000
      expect(Number.parseInt(/flags:\s+(\d+)/.exec(flags)![1], 8) & 0o2000000).toBeTruthy();
    } finally {
      fs.closeSync(fd);
    }
    // the peer has closed its end (and still runs, so Node keeps ours open): EOF
    const err = await poll(() => {
      try {
        return n.recvFd(p.fd) === null ? null : new Error('got a descriptor');
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    });
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(await p.exited).toBe(0);
    p.child.stdin!.destroy();
  });

  it('keeps only the first of several descriptors and closes the rest', async () => {
    const before = openFds().length;
    const p = peer(`a = os.open('/dev/null', os.O_RDONLY)\nb = os.open('/dev/zero', os.O_RDONLY)\nsocket.send_fds(s, [b'x'], [a, b, a])`);
    const fd = await poll(() => n.recvFd(p.fd));
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe('/dev/null');
    fs.closeSync(fd);
    await p.exited;
    p.child.stdin!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds().length).toBe(before);
  });

  it('throws ENOMSG for a message without a descriptor', async () => {
    const p = peer(`s.send(b'no fd here')\ntime.sleep(0.5)`);
    const err = await poll(() => {
      try {
        return n.recvFd(p.fd) === null ? null : new Error('got a descriptor');
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    });
    expect(err).toMatchObject({ code: 'ENOMSG', syscall: 'recvmsg' });
    p.child.kill('SIGKILL');
    await p.exited;
    p.child.stdin!.destroy();
  });

  it('throws for a descriptor that is not a socket, and checks its argument', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      expect(() => n.recvFd(fd)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
    } finally {
      fs.closeSync(fd);
    }
    expect(() => n.recvFd(-1)).toThrow(RangeError);
    expect(() => n.recvFd('3' as unknown as number)).toThrow(TypeError);
  });
});

describe('setWinsize / getWinsize', () => {
  it('sets and reads a pty’s window size', () => {
    const fd = fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    try {
      n.setWinsize(fd, 100, 40);
      expect(n.getWinsize(fd)).toEqual({ cols: 100, rows: 40 });
      n.setWinsize(fd, 80, 24);
      expect(n.getWinsize(fd)).toEqual({ cols: 80, rows: 24 });
      expect(() => n.setWinsize(fd, 70000, 1)).toThrow(RangeError);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('fails with ENOTTY on a file that is not a terminal', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      expect(() => n.setWinsize(fd, 10, 10)).toThrow(expect.objectContaining({ code: 'ENOTTY', syscall: 'ioctl' }));
    } finally {
      fs.closeSync(fd);
    }
  });
});
