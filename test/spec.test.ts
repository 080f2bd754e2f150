import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packAny } from '../core/any.ts';
import { capabilitiesFromBitmap, currentCapabilities, normalizeCapabilities } from '../core/spec/caps.ts';
import { runcOptions } from '../core/spec/container.ts';
import { containerLabelsFromImage } from '../core/spec/image-labels.ts';
import { defaultSeccompProfile, loadSeccompProfile } from '../core/spec/seccomp.ts';
import { buildSpec, cleanCwd, defaultSpec, goJson, hostDevices, mergeEnv, type SpecInput } from '../core/spec/spec.ts';
import { Accounts, lookupUser, parseId, readRootFile, resolveInRoot, resolveUser } from '../core/spec/user.ts';
import { labelArgs, parseMountFlag, seccompChoice } from '../ctl/spec/flags.ts';
import { runImageGroup, runImagePasswd } from './support/run-image.ts';
import { seccompRules } from './support/util.ts';

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
  const base = (extra: Partial<SpecInput> = {}): SpecInput => ({
    namespace: 'ns',
    id: 'c1',
    image,
    rootfs: tempRoot({ 'etc/passwd': runImagePasswd, 'etc/group': runImageGroup }),
    ...extra,
  });

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
        flags: {
          memoryLimit: 64 << 20,
          cpus: 1.5,
          cpuShares: 1024,
          pidsLimit: 20,
          readOnly: true,
          hostname: 'box',
          labels: { a: 'b' },
          mounts: [parseMountFlag('type=bind,src=/tmp,dst=/host,options=rbind:ro')],
        },
      }),
    );
    expect(s.linux!.resources!.memory).toEqual({ limit: 64 << 20 });
    expect(s.linux!.resources!.cpu).toEqual({ quota: 150000, period: 100000, shares: 1024 });
    expect(s.linux!.resources!.pids).toEqual({ limit: 20 });
    expect(s.root).toEqual({ path: 'rootfs', readonly: true });
    expect(s.hostname).toBe('box');
    expect(s.annotations).toEqual({ a: 'b' });
    expect(s.mounts!.at(-1)).toEqual({ destination: '/host', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] });
    // a bind without bind or rbind among its options is recursive, as Docker's (not an ENODEV mount)
    const plain = buildSpec(base({ flags: { mounts: [parseMountFlag('type=bind,src=/tmp,dst=/a'), parseMountFlag('src=/srv,dst=/b,options=ro')] } }));
    expect(plain.mounts!.slice(-2)).toEqual([
      { destination: '/a', type: 'bind', source: '/tmp', options: ['rbind'] },
      { destination: '/b', type: 'bind', source: '/srv', options: ['rbind', 'ro'] },
    ]);
  });

  it('--privileged: given capabilities, all devices, no masked paths, writable sysfs', () => {
    const s = buildSpec(
      base({ flags: { privileged: true }, privileged: { capabilities: ['CAP_SYS_ADMIN'], devices: [{ path: '/dev/null', type: 'c', major: 1, minor: 3 }] } }),
    );
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
    const root = tempRoot({
      'etc/passwd':
        'a:x:abc:0::/:/bin/sh\nb:x:-1:0::/:/bin/sh\nc:x:4294967295:0::/:/bin/sh\nd:x:5:99999999999::/:/bin/sh\nok:x:2147483647:7::/:\ne:x:2147483648:0::/:/bin/sh\nf:x:1:2147483648::/:/bin/sh\n',
      'etc/group': 'g:x:zz:ok\n',
    });
    const a = () => new Accounts(root);
    expect(() => lookupUser(a(), 'a')).toThrow(/invalid uid "abc"/);
    expect(() => lookupUser(a(), 'b')).toThrow(/invalid uid "-1"/);
    expect(() => lookupUser(a(), 'c')).toThrow(/invalid uid "4294967295"/);
    expect(() => lookupUser(a(), 'd')).toThrow(/invalid gid/);
    expect(lookupUser(a(), 'ok')).toEqual({ uid: 2147483647, gid: 7 });
    // runc and containerd take ids up to 2^31-1
    expect(() => lookupUser(a(), 'e')).toThrow(/invalid uid "2147483648" \(line 6; uids are 0 to 2147483647\)/);
    expect(() => lookupUser(a(), 'f')).toThrow(/invalid gid "2147483648"/);
    expect(() => lookupUser(a(), '2147483648')).toThrow(/invalid uid "2147483648": uids are 0 to 2147483647/);
    expect(() => lookupUser(a(), '0:2147483648')).toThrow(/invalid gid "2147483648"/);
    expect(() => lookupUser(a(), '-1')).toThrow(/invalid uid "-1"/);
    expect(() => lookupUser(a(), '1:-5')).toThrow(/invalid gid "-5"/);
    expect(lookupUser(a(), '2147483647:2147483647')).toEqual({ uid: 2147483647, gid: 2147483647 });
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
    const outside = tempRoot({ passwd: 'evil:x:0:0::/:/bin/sh\n' });
    const root = tempRoot();
    mkdirSync(join(root, 'etc'));
    symlinkSync(join(outside, 'passwd'), join(root, 'etc', 'passwd'));
    expect(resolveInRoot(root, '/etc/passwd')).toBe(join(root, outside, 'passwd'));
    expect(readRootFile(root, '/etc/passwd')).toBeUndefined();
    symlinkSync(`../../../../../../..${outside}`, join(root, 'etc', 'group'));
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
    expect(parseMountFlag('type=bind,source=/a,destination=/b,options=rbind:rw')).toEqual({
      destination: '/b',
      type: 'bind',
      source: '/a',
      options: ['rbind', 'rw'],
    });
    expect(parseMountFlag('type=tmpfs,dst=/t,"options=size=1m"')).toEqual({ destination: '/t', type: 'tmpfs', options: ['size=1m'] });
    expect(() => parseMountFlag('type=bind,src=/a')).toThrow(/dst/);
    expect(() => parseMountFlag('bogus=1,dst=/x')).toThrow(/not supported/);
    expect(() => parseMountFlag('src')).toThrow(/key=value/);
  });

  it('runc options Any (BinaryName) encodes as protobufjs does', () => {
    expect(runcOptions()).toEqual({ type_url: 'containerd.runc.v1.Options', value: Buffer.alloc(0) });
    for (const name of ['crun', `/usr/local/bin/${'r'.repeat(200)}`]) {
      expect(runcOptions(name)).toEqual(packAny('containerd.runc.v1.Options', { binary_name: name }));
    }
  });

  it('JSON as Go writes it: struct key order, HTML characters escaped', () => {
    const s = buildSpec({ namespace: 'n', id: 'i', image: { Cmd: ['sh'] }, flags: { env: ['A=<b>&c'], labels: { k: 'v' }, memoryLimit: 1 } });
    expect(Object.keys(s)).toEqual(['ociVersion', 'process', 'root', 'mounts', 'annotations', 'linux']);
    expect(Object.keys(s.process!)).toEqual(['user', 'args', 'env', 'cwd', 'capabilities', 'rlimits', 'noNewPrivileges']);
    expect(Object.keys(s.linux!)).toEqual(['resources', 'cgroupsPath', 'namespaces', 'seccomp', 'maskedPaths', 'readonlyPaths']);
    expect(Object.keys(s.linux!.seccomp!)).toEqual(['defaultAction', 'defaultErrnoRet', 'architectures', 'syscalls']);
    expect(Object.keys(s.linux!.seccomp!.syscalls!.find((r) => r.errnoRet)!)).toEqual(['names', 'action', 'errnoRet']);
    expect(Object.keys(s.linux!.seccomp!.syscalls!.find((r) => r.args)!.args![0]!)).toEqual(['index', 'value', 'op']);
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

describe('seccomp', () => {
  const x64 = { arch: 'x64', kernel: '6.1.0-13-amd64' };
  const defaultCaps = defaultSpec('n', 'i').process!.capabilities!.bounding!;
  const rules = seccompRules;

  it("default: EPERM for everything not listed, this host's ABIs, the arguments containerd checks", () => {
    const p = defaultSeccompProfile(defaultCaps, x64);
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const r = rules(p);
    for (const name of ['read', 'write', 'execve', 'openat', 'futex', 'wait4', 'arch_prctl', 'chroot', 'ptrace'])
      expect(r.get(name), name).toEqual(['SCMP_ACT_ALLOW']);
    for (const name of [
      'keyctl',
      'add_key',
      'unshare',
      'setns',
      'mount',
      'umount2',
      'swapon',
      'reboot',
      'init_module',
      'kexec_load',
      'bpf',
      'io_uring_setup',
      'open_by_handle_at',
      'userfaultfd',
    ]) {
      expect(r.get(name), name).toBeUndefined();
    }
    // newer than libseccomp 2.5.4 knows: runc skips such names (secure-defaults.test.ts runs this profile)
    for (const name of ['mseal', 'listmount', 'statmount']) expect(r.get(name), name).toEqual(['SCMP_ACT_ALLOW']);
    expect(r.get('socket')).toEqual(['SCMP_ACT_ALLOW 0 SCMP_CMP_LT 38', 'SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 39', 'SCMP_ACT_ALLOW 0 SCMP_CMP_GT 40']);
    expect(r.get('personality')).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff].map((v) => `SCMP_ACT_ALLOW 0 SCMP_CMP_EQ ${v}`));
    expect(r.get('clone')).toEqual(['SCMP_ACT_ALLOW 0 SCMP_CMP_MASKED_EQ 2114060288']);
    expect(r.get('clone3')).toEqual(['SCMP_ACT_ERRNO 38']);
  });

  it('follows the bounding capabilities, the kernel and the architecture', () => {
    const admin = rules(defaultSeccompProfile([...defaultCaps, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE', 'CAP_SYS_BOOT'], x64));
    for (const name of ['unshare', 'setns', 'mount', 'clone', 'clone3', 'kcmp', 'init_module', 'reboot'])
      expect(admin.get(name), name).toContain('SCMP_ACT_ALLOW');
    expect(admin.get('clone')).toEqual(['SCMP_ACT_ALLOW']);
    expect(admin.get('clone3')).toEqual(['SCMP_ACT_ALLOW']);
    expect(rules(defaultSeccompProfile(['CAP_KILL'], x64)).get('chroot')).toBeUndefined();
    expect(rules(defaultSeccompProfile(defaultCaps, { arch: 'x64', kernel: '4.4.0' })).get('ptrace')).toBeUndefined();
    const arm = defaultSeccompProfile(defaultCaps, { arch: 'arm64', kernel: '6.1.0' });
    expect(arm.architectures).toEqual(['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
    expect(rules(arm).get('set_tls')).toEqual(['SCMP_ACT_ALLOW']);
    expect(rules(arm).get('arch_prctl')).toBeUndefined();
    expect(rules(defaultSeccompProfile(defaultCaps, { arch: 's390x', kernel: '6.1' })).get('clone')).toEqual([
      'SCMP_ACT_ALLOW 1 SCMP_CMP_MASKED_EQ 2114060288',
    ]);
  });

  it('in the spec: after --cap-add, gone with unconfined and --privileged, replaced by a profile file', () => {
    const build = (flags: SpecInput['flags']) => buildSpec({ namespace: 'n', id: 'i', image: { Cmd: ['sh'] }, flags });
    expect(rules(build({}).linux!.seccomp!).get('unshare')).toBeUndefined();
    expect(rules(build({ capAdd: ['CAP_SYS_ADMIN'] }).linux!.seccomp!).get('unshare')).toEqual(['SCMP_ACT_ALLOW']);
    expect(rules(build({ capDrop: ['CAP_SYS_CHROOT'] }).linux!.seccomp!).get('chroot')).toBeUndefined();
    expect(build({ seccomp: 'unconfined' }).linux!.seccomp).toBeUndefined();
    expect(
      buildSpec({ namespace: 'n', id: 'i', image: { Cmd: ['sh'] }, flags: { privileged: true }, privileged: { capabilities: ['CAP_SYS_ADMIN'], devices: [] } })
        .linux!.seccomp,
    ).toBeUndefined();
    const own = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    expect(build({ seccomp: { profile: JSON.stringify(own), from: 'own.json' } }).linux!.seccomp).toEqual(own);
  });

  it('Docker profiles: archMap and includes/excludes resolved for this host and the capabilities', () => {
    const docker = JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      ],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW', comment: 'always' },
        { name: 'arch_prctl', action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
        { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        {
          names: ['clone'],
          action: 'SCMP_ACT_ALLOW',
          args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
          excludes: { caps: ['CAP_SYS_ADMIN'] },
        },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
        { names: ['newer'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '7.0' } },
      ],
    });
    const plain = loadSeccompProfile(docker, 'd.json', ['CAP_CHOWN'], x64);
    expect(plain).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    const admin = rules(loadSeccompProfile(docker, 'd.json', ['CAP_SYS_ADMIN'], { arch: 'arm64', kernel: '4.4' }));
    expect([...admin.keys()]).toEqual(['read', 'set_tls', 'mount']);
    expect(loadSeccompProfile(docker, 'd.json', [], { arch: 'riscv64', kernel: '6.1' }).architectures).toBeUndefined();
  });

  it('--seccomp-profile and --security-opt', () => {
    const file = join(tempRoot({ 'p.json': '{"defaultAction":"SCMP_ACT_LOG"}' }), 'p.json');
    expect(seccompChoice(undefined, [])).toBeUndefined();
    expect(seccompChoice(undefined, ['seccomp=unconfined'])).toBe('unconfined');
    expect(seccompChoice(file, [])).toEqual({ profile: '{"defaultAction":"SCMP_ACT_LOG"}', from: file });
    expect(seccompChoice(undefined, [`seccomp=${file}`])).toEqual({ profile: '{"defaultAction":"SCMP_ACT_LOG"}', from: file });
    expect(() => seccompChoice(file, ['seccomp=unconfined'])).toThrow(`--security-opt seccomp=unconfined contradicts --seccomp-profile ${file}`);
    expect(() => seccompChoice(undefined, ['apparmor=x'])).toThrow(/unsupported --security-opt "apparmor=x"/);
    expect(() => seccompChoice('/no/such.json', [])).toThrow(/cannot read the seccomp profile \/no\/such\.json: ENOENT/);
  });

  it('refuses a profile it cannot read, saying which file', () => {
    const bad = (doc: unknown) => () => loadSeccompProfile(typeof doc === 'string' ? doc : JSON.stringify(doc), 'p.json', [], x64);
    expect(bad('{')).toThrow(/^seccomp profile p\.json: not valid JSON/);
    expect(bad([])).toThrow(/not a JSON object/);
    expect(bad({ syscalls: [] })).toThrow(/no defaultAction/);
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: [], archMap: [] })).toThrow(/both architectures and archMap/);
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] })).toThrow(
      /syscalls\[0\]: has both name and names/,
    );
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'] }] })).toThrow(/no action/);
    expect(
      bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', args: [{ index: -1, value: 0, op: 'SCMP_CMP_EQ' }] }] }),
    ).toThrow(/argument rule/);
    expect(bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4' } }] })).toThrow(/minKernel/);
  });
});

describe('image labels', () => {
  it('reserved prefixes and oversized labels stay out of the container, with one warning each', () => {
    const warnings: string[] = [];
    const labels = containerLabelsFromImage(
      [
        {
          'io.berth.log-uri': 'file:///etc/shadow',
          'containerd.io/gc.ref.content.x': 'sha256:00',
          'io.containerd.image.config.stop-signal': 'SIGKILL',
          'io.cri-containerd.kind': 'sandbox',
          'io.kubernetes.pod.name': 'p',
          app: 'web',
        },
        { 'org.opencontainers.image.title': 't', big: 'x'.repeat(5000) },
        null,
      ],
      (m) => warnings.push(m),
    );
    expect(labels).toEqual({ app: 'web', 'org.opencontainers.image.title': 't' });
    expect(warnings).toHaveLength(6);
    expect(warnings[0]).toBe(`not copying the image's label "io.berth.log-uri" to the container: the prefix is reserved for the host`);
    expect(warnings[5]).toMatch(/"big" .*exceed 4096 bytes/);
  });
});
