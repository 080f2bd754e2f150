import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSpec, cleanCwd, defaultSpec, goJson, hostDevices, mergeEnv, type SpecInput } from '../ctl/spec/spec.ts';
import { Accounts, lookupUser, parseId, readRootFile, resolveInRoot, resolveUser } from '../ctl/spec/user.ts';
import { capabilitiesFromBitmap, currentCapabilities, normalizeCapabilities } from '../ctl/spec/caps.ts';
import { labelArgs, parseMountFlag } from '../ctl/spec/flags.ts';
import { runcOptions } from '../ctl/spec/create.ts';
import { packAny } from '../proto/any.ts';
import { runImageGroup, runImagePasswd } from './run-image.ts';

const dirs: string[] = [];
const tempRoot = (files: Record<string, string> = {}): string => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spec-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const image = { Env: ['PATH=/usr/bin:/bin', 'IMAGE_VAR=from-image'], Cmd: ['/bin/sh'], WorkingDir: '/' };

describe('base spec', () => {
  it('is containerd 1.6 default spec with the default unix devices', () => {
    const s = defaultSpec('default', 'redis');
    expect(s.ociVersion).toBe('1.0.2-dev');
    expect(s.root).toEqual({ path: 'rootfs' });
    expect(s.linux!.cgroupsPath).toBe('/default/redis');
    expect(s.process!.capabilities!.bounding).toHaveLength(14);
    expect(s.process!.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    expect(s.mounts!.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run']);
    expect(s.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network']);
    expect(s.linux!.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
    expect(s.linux!.resources!.devices![8]).toEqual({ allow: true, type: 'c', major: 136, access: 'rwm' });
    expect(s.linux!.maskedPaths).toContain('/proc/kcore');
  });
});

describe('image config → spec', () => {
  const base = (extra: Partial<SpecInput> = {}): SpecInput => ({ namespace: 'ns', id: 'c1', image, rootfs: tempRoot({ 'etc/passwd': runImagePasswd, 'etc/group': runImageGroup }), ...extra });

  it('takes env, args, cwd and the root user with its primary gid', () => {
    const s = buildSpec(base());
    expect(s.process!.env).toEqual(['PATH=/usr/bin:/bin', 'IMAGE_VAR=from-image']);
    expect(s.process!.args).toEqual(['/bin/sh']);
    expect(s.process!.cwd).toBe('/');
    expect(s.process!.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(s.linux!.resources!.cpu).toBeUndefined();
    expect(buildSpec(base({ flags: { cpuShares: 1024 } })).linux!.resources!.cpu).toEqual({ shares: 1024 });
  });

  it('uses the default PATH when the image has no Env', () => {
    expect(buildSpec(base({ image: { Cmd: ['x'] } })).process!.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('merges --env over the image env by key (as ctr: before the image env, so a bare key removes nothing of it)', () => {
    const s = buildSpec(base({ flags: { env: ['IMAGE_VAR=mine', 'NEW=1', 'PATH'], envFile: ['FROM_FILE=1'] } }));
    expect(s.process!.env).toEqual(['PATH=/usr/bin:/bin', 'IMAGE_VAR=mine', 'FROM_FILE=1', 'NEW=1']);
    expect(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4', 'A'])).toEqual(['B=3', 'C=4']);
  });

  it('command-line args replace entrypoint and cmd', () => {
    const s = buildSpec(base({ image: { ...image, Entrypoint: ['/entry'], Cmd: ['a'] }, flags: { args: ['echo', 'hi'] } }));
    expect(s.process!.args).toEqual(['echo', 'hi']);
    expect(buildSpec(base({ image: { ...image, Entrypoint: ['/entry'], Cmd: ['a'] } })).process!.args).toEqual(['/entry', 'a']);
  });

  it('refuses an image with nothing to run', () => {
    expect(() => buildSpec(base({ image: {} }))).toThrow(/no command to run/);
  });

  it('resolves a user name, its primary gid and supplementary groups', () => {
    expect(buildSpec(base({ flags: { user: 'berth' } })).process!.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 29, 50] });
    expect(buildSpec(base({ image: { ...image, User: 'berth' } })).process!.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 29, 50] });
  });

  it('uid alone takes the gid from /etc/passwd, 0 for an unknown uid', () => {
    expect(buildSpec(base({ flags: { user: '1000' } })).process!.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 29, 50] });
    expect(buildSpec(base({ flags: { user: '4242' } })).process!.user).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
  });

  it('uid:gid is used as is; names are looked up', () => {
    expect(buildSpec(base({ flags: { user: '1000:50' } })).process!.user).toEqual({ uid: 1000, gid: 50, additionalGids: [29, 50] });
    expect(buildSpec(base({ flags: { user: 'berth:audio' } })).process!.user).toEqual({ uid: 1000, gid: 29, additionalGids: [29, 50] });
    expect(buildSpec(base({ flags: { user: 'nobody:staff' } })).process!.user).toEqual({ uid: 65534, gid: 50, additionalGids: [50] });
  });

  it('refuses unknown users and groups like containerd', () => {
    expect(() => buildSpec(base({ flags: { user: 'nosuch' } }))).toThrow(/no users found/);
    expect(() => buildSpec(base({ flags: { user: 'berth:nosuch' } }))).toThrow(/no groups found/);
    expect(() => buildSpec(base({ flags: { user: 'a:b:c' } }))).toThrow(/invalid USER value/);
    expect(() => buildSpec(base({ rootfs: tempRoot(), flags: { user: 'berth' } }))).toThrow(/no users found.*no \/etc\/passwd/);
  });

  it('without /etc/passwd a numeric user still works', () => {
    expect(buildSpec(base({ rootfs: tempRoot(), flags: { user: '7:8' } })).process!.user).toEqual({ uid: 7, gid: 8, additionalGids: [8] });
    expect(buildSpec(base({ rootfs: undefined })).process!.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('cleans the working directory and refuses a relative one', () => {
    expect(buildSpec(base({ image: { ...image, WorkingDir: '/work/../../etc/' } })).process!.cwd).toBe('/etc');
    expect(() => buildSpec(base({ image: { ...image, WorkingDir: 'work' } }))).toThrow(/WorkingDir "work" is not an absolute path/);
    expect(() => buildSpec(base({ flags: { cwd: '../x' } }))).toThrow(/--cwd/);
    expect(buildSpec(base({ flags: { cwd: '/tmp//a/./b' } })).process!.cwd).toBe('/tmp/a/b');
    expect(cleanCwd('/', 'x')).toBe('/');
  });

  it('-t sets terminal and TERM=xterm', () => {
    const s = buildSpec(base({ flags: { tty: true } }));
    expect(s.process!.terminal).toBe(true);
    expect(s.process!.env!.at(-1)).toBe('TERM=xterm');
    expect(s.process!.consoleSize).toBeUndefined();
    expect(buildSpec(base({ flags: { tty: true, consoleSize: { width: 80, height: 24 } } })).process!.consoleSize).toEqual({ height: 24, width: 80 });
  });

  it('--net-host drops the netns, binds hosts and resolv.conf, sets HOSTNAME', () => {
    const s = buildSpec(base({ flags: { netHost: true }, hostHostname: 'hosty' }));
    expect(s.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(s.mounts!.slice(-2)).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] },
    ]);
    expect(s.process!.env).toContain('HOSTNAME=hosty');
  });

  it('resources, read-only, hostname, labels as annotations, mounts', () => {
    const s = buildSpec(
      base({
        flags: { memoryLimit: 64 << 20, cpus: 1.5, cpuShares: 1024, pidsLimit: 20, readOnly: true, hostname: 'box', labels: { a: 'b' }, mounts: [parseMountFlag('type=bind,src=/tmp,dst=/host,options=rbind:ro')] },
      }),
    );
    expect(s.linux!.resources!.memory).toEqual({ limit: 64 << 20 });
    expect(s.linux!.resources!.cpu).toEqual({ quota: 150000, period: 100000, shares: 1024 });
    expect(s.linux!.resources!.pids).toEqual({ limit: 20 });
    expect(s.root).toEqual({ path: 'rootfs', readonly: true });
    expect(s.hostname).toBe('box');
    expect(s.annotations).toEqual({ a: 'b' });
    expect(s.mounts!.at(-1)).toEqual({ destination: '/host', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] });
  });

  it('--privileged: given capabilities, all devices, no masked paths, writable sysfs', () => {
    const s = buildSpec(base({ flags: { privileged: true }, privileged: { capabilities: ['CAP_SYS_ADMIN'], devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 3 }] } }));
    expect(s.process!.capabilities).toEqual({ bounding: ['CAP_SYS_ADMIN'], effective: ['CAP_SYS_ADMIN'], permitted: ['CAP_SYS_ADMIN'] });
    expect(s.linux!.maskedPaths).toBeUndefined();
    expect(s.linux!.readonlyPaths).toBeUndefined();
    expect(s.linux!.resources!.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(s.linux!.devices).toEqual([{ path: '/dev/null', type: 'c', major: 1, minor: 3 }]);
    expect(s.mounts!.find((m) => m.type === 'sysfs')!.options).toEqual(['nosuid', 'noexec', 'nodev', 'rw']);
  });

  it('cap-add and cap-drop, names with or without CAP_', () => {
    const s = buildSpec(base({ flags: { capAdd: normalizeCapabilities(['net_admin', 'CAP_SYS_TIME']), capDrop: normalizeCapabilities(['CHOWN']) } }));
    const caps = s.process!.capabilities!;
    expect(caps.bounding).toContain('CAP_NET_ADMIN');
    expect(caps.effective).toContain('CAP_SYS_TIME');
    expect(caps.permitted).not.toContain('CAP_CHOWN');
    expect(() => normalizeCapabilities(['CAP_BOGUS'])).toThrow(/unknown capability/);
  });
});

describe('untrusted account files', () => {
  it('refuses garbage, negative and too large ids where they are used', () => {
    const root = tempRoot({ 'etc/passwd': 'a:x:abc:0::/:/bin/sh\nb:x:-1:0::/:/bin/sh\nc:x:4294967295:0::/:/bin/sh\nd:x:5:99999999999::/:/bin/sh\nok:x:4294967294:7::/:\n', 'etc/group': 'g:x:zz:ok\n' });
    const a = () => new Accounts(root);
    expect(() => lookupUser(a(), 'a')).toThrow(/invalid uid "abc"/);
    expect(() => lookupUser(a(), 'b')).toThrow(/invalid uid "-1"/);
    expect(() => lookupUser(a(), 'c')).toThrow(/invalid uid "4294967295"/);
    expect(() => lookupUser(a(), 'd')).toThrow(/invalid gid/);
    expect(lookupUser(a(), 'ok')).toEqual({ uid: 4294967294, gid: 7 });
    // a garbage uid is not uid 0: looking up root by number does not find user "a"
    expect(lookupUser(a(), '0')).toEqual({ uid: 0, gid: 0 });
    expect(() => resolveUser(a(), 'ok')).toThrow(/group "g" an invalid gid "zz"/);
    expect(() => lookupUser(a(), '4294967295')).toThrow(/invalid uid/);
    expect(() => lookupUser(a(), '1:99999999999')).toThrow(/invalid gid/);
    expect(parseId('0')).toBe(0);
    expect(parseId('+1')).toBeUndefined();
    expect(parseId('')).toBeUndefined();
  });

  it('never follows a symlink out of the root', () => {
    const outside = tempRoot({ 'passwd': 'evil:x:0:0::/:/bin/sh\n' });
    const root = tempRoot();
    mkdirSync(join(root, 'etc'));
    symlinkSync(join(outside, 'passwd'), join(root, 'etc', 'passwd'));
    expect(resolveInRoot(root, '/etc/passwd')).toBe(join(root, outside, 'passwd'));
    expect(readRootFile(root, '/etc/passwd')).toBeUndefined();
    symlinkSync('../../../../../../..' + outside, join(root, 'etc', 'group'));
    expect(readRootFile(root, '/etc/group')).toBeUndefined();
    expect(() => lookupUser(new Accounts(root), 'evil')).toThrow(/no users found/);
  });

  it('follows symlinks that stay inside the root', () => {
    const root = tempRoot({ 'usr/etc/passwd': runImagePasswd });
    symlinkSync('usr/etc', join(root, 'etc'));
    expect(lookupUser(new Accounts(root), 'berth')).toEqual({ uid: 1000, gid: 1000 });
    const root2 = tempRoot({ 'real/passwd': runImagePasswd });
    mkdirSync(join(root2, 'etc'));
    symlinkSync('/real/passwd', join(root2, 'etc', 'passwd'));
    expect(lookupUser(new Accounts(root2), 'berth')).toEqual({ uid: 1000, gid: 1000 });
  });

  it('refuses a symlink loop, a directory, a FIFO and a huge file', () => {
    const loop = tempRoot();
    mkdirSync(join(loop, 'etc'));
    symlinkSync('passwd', join(loop, 'etc', 'passwd'));
    expect(() => readRootFile(loop, '/etc/passwd')).toThrow(/too many levels/);
    const dir = tempRoot();
    mkdirSync(join(dir, 'etc', 'passwd'), { recursive: true });
    expect(() => readRootFile(dir, '/etc/passwd')).toThrow(/not a regular file/);
    const fifo = tempRoot();
    mkdirSync(join(fifo, 'etc'));
    execFileSync('mkfifo', [join(fifo, 'etc', 'passwd')]);
    expect(() => readRootFile(fifo, '/etc/passwd')).toThrow(/not a regular file/);
    const big = tempRoot({ 'etc/passwd': 'x'.repeat((1 << 20) + 1) });
    expect(() => lookupUser(new Accounts(big), 'x')).toThrow(/too large/);
  });
});

describe('flags', () => {
  it('parses ctr mount syntax', () => {
    expect(parseMountFlag('type=bind,source=/a,destination=/b,options=rbind:rw')).toEqual({ destination: '/b', type: 'bind', source: '/a', options: ['rbind', 'rw'] });
    expect(parseMountFlag('type=tmpfs,dst=/t,"options=size=1m"')).toEqual({ destination: '/t', type: 'tmpfs', options: ['size=1m'] });
    expect(() => parseMountFlag('type=bind,src=/a')).toThrow(/dst/);
    expect(() => parseMountFlag('bogus=1,dst=/x')).toThrow(/not supported/);
    expect(() => parseMountFlag('src')).toThrow(/key=value/);
  });

  it('runc options Any (BinaryName) encodes as protobufjs does', () => {
    expect(runcOptions()).toEqual({ type_url: 'containerd.runc.v1.Options', value: Buffer.alloc(0) });
    for (const name of ['crun', '/usr/local/bin/' + 'r'.repeat(200)]) {
      expect(runcOptions(name)).toEqual(packAny('containerd.runc.v1.Options', { binary_name: name }));
    }
  });

  it('JSON as Go writes it: struct key order, HTML characters escaped', () => {
    const s = buildSpec({ namespace: 'n', id: 'i', image: { Cmd: ['sh'] }, flags: { env: ['A=<b>&c'], labels: { k: 'v' }, memoryLimit: 1 } });
    expect(Object.keys(s)).toEqual(['ociVersion', 'process', 'root', 'mounts', 'annotations', 'linux']);
    expect(Object.keys(s.process!)).toEqual(['user', 'args', 'env', 'cwd', 'capabilities', 'rlimits', 'noNewPrivileges']);
    expect(Object.keys(s.linux!)).toEqual(['resources', 'cgroupsPath', 'namespaces', 'maskedPaths', 'readonlyPaths']);
    expect(goJson(s)).toContain('"A=\\u003cb\\u003e\\u0026c"');
    expect(JSON.parse(goJson(s))).toEqual(s);
  });

  it('labels: bare key is true', () => {
    expect(labelArgs(['a=b', 'c', 'd='])).toEqual({ a: 'b', c: 'true', d: '' });
  });

  it('capabilities from a bitmap and from this process', () => {
    expect(capabilitiesFromBitmap('3')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    expect(currentCapabilities('CapEff:\t0000000000200000\n')).toEqual(['CAP_SYS_ADMIN']);
  });

  it('host devices include /dev/null as c 1:3', () => {
    const dev = hostDevices().find((d) => d.path === '/dev/null');
    expect(dev).toMatchObject({ type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
  });
});

