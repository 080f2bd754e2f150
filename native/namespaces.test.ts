// Namespaces bound on files, against the real kernel: needs root (unshare, setns, mount).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { describeAsRoot, installed, itAsRoot } from '../test/support/root.ts';
import { connectInNetns, createNamespace, createNetns, removeNamespace, writeInNamespace } from './namespaces.ts';

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
  for (const p of made) removeNamespace(p);
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

describeAsRoot('createNamespace: ipc and uts', [installed('nsenter'), installed('hostname'), installed('ipcmk')], () => {
  const nsenter = (args: string[]) => spawnSync('nsenter', args, { encoding: 'utf8' });

  itAsRoot('a uts namespace with the hostname given; the caller keeps its own', () => {
    const own = readFileSync('/proc/sys/kernel/hostname', 'utf8');
    const p = nsPath();
    createNamespace(p, 'uts', 'pod-host');
    expect(nsfsMountedAt(p)).toBe(true);
    expect(statSync(p).ino).not.toBe(statSync('/proc/self/ns/uts').ino);
    expect(nsenter([`--uts=${p}`, 'hostname']).stdout).toBe('pod-host\n');
    expect(readFileSync('/proc/sys/kernel/hostname', 'utf8')).toBe(own);
    // without a hostname: the host's, copied
    const q = nsPath();
    createNamespace(q, 'uts');
    expect(nsenter([`--uts=${q}`, 'hostname']).stdout).toBe(own);
  });

  itAsRoot('an ipc namespace of its own: a queue made inside is not seen outside', () => {
    const p = nsPath();
    createNamespace(p, 'ipc');
    expect(statSync(p).ino).not.toBe(statSync('/proc/self/ns/ipc').ino);
    const made = nsenter([`--ipc=${p}`, 'ipcmk', '-Q']);
    expect(made.status).toBe(0);
    const id = /(\d+)\s*$/.exec(made.stdout)![1]!;
    // ipcs exits 0 either way: what it says tells
    expect(nsenter([`--ipc=${p}`, 'ipcs', '-q', '-i', id]).stdout).toContain(`msqid=${id}`);
    expect(spawnSync('ipcs', ['-q', '-i', id], { encoding: 'utf8' }).stderr).toContain(`id ${id} not found`);
  });

  itAsRoot('refuses another type, or a hostname for anything but uts, and leaves nothing', () => {
    const p = nsPath();
    expect(() => createNamespace(p, 'mnt' as 'net')).toThrow(TypeError);
    expect(() => createNamespace(p, 'ipc', 'x')).toThrow(TypeError);
    expect(existsSync(p)).toBe(false);
    // a hostname longer than the kernel's 64 bytes: EINVAL, no file
    expect(() => createNamespace(p, 'uts', 'h'.repeat(65))).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'sethostname' }));
    expect(existsSync(p)).toBe(false);
  });
});

describeAsRoot('writeInNamespace', [installed('nsenter'), installed('sysctl')], () => {
  itAsRoot("sets a sysctl in the namespace's own copy, not the host's", () => {
    const net = nsPath();
    createNetns(net);
    const host = readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8');
    writeInNamespace(net, 'net', '/proc/sys/net/ipv4/ip_unprivileged_port_start', '79');
    expect(spawnSync('nsenter', [`--net=${net}`, 'sysctl', '-n', 'net.ipv4.ip_unprivileged_port_start'], { encoding: 'utf8' }).stdout).toBe('79\n');
    expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).toBe(host);

    const ipc = nsPath();
    createNamespace(ipc, 'ipc');
    const hostForced = readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8');
    writeInNamespace(ipc, 'ipc', '/proc/sys/kernel/shm_rmid_forced', hostForced.trim() === '1' ? '0' : '1');
    expect(spawnSync('nsenter', [`--ipc=${ipc}`, 'sysctl', '-n', 'kernel.shm_rmid_forced'], { encoding: 'utf8' }).stdout).not.toBe(hostForced);
    expect(readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8')).toBe(hostForced);
  });

  itAsRoot('says which file failed: a sysctl that does not exist, a value refused, a namespace file of another type', () => {
    const net = nsPath();
    createNetns(net);
    expect(() => writeInNamespace(net, 'net', '/proc/sys/net/ipv4/no_such_thing', '1')).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: '/proc/sys/net/ipv4/no_such_thing' }),
    );
    expect(() => writeInNamespace(net, 'net', '/proc/sys/net/ipv4/ip_unprivileged_port_start', 'many')).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'write' }),
    );
    expect(() => writeInNamespace(net, 'ipc', '/proc/sys/kernel/shm_rmid_forced', '1')).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'setns', path: net }),
    );
    expect(() => writeInNamespace(join(base, 'missing'), 'net', '/proc/sys/net/ipv4/ip_forward', '1')).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: join(base, 'missing') }),
    );
  });
});

describeAsRoot('removeNamespace', () => {
  itAsRoot('unmounts and removes the file', () => {
    const p = nsPath();
    createNetns(p);
    expect(mountsAt(p)).toEqual(['nsfs']);
    removeNamespace(p);
    expect(existsSync(p)).toBe(false);
    expect(mountsAt(p)).toEqual([]);
  });

  itAsRoot('is fine with a path that is gone, or a plain file that is not a mount', () => {
    const p = nsPath();
    removeNamespace(p);
    writeFileSync(p, '');
    removeNamespace(p);
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
