import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeCapabilities } from '../core/spec/caps.ts';
import { buildSpec, type SpecFlags } from '../core/spec/spec.ts';
import type { ImageConfig, LinuxSeccomp, Spec } from '../core/spec/types.ts';
import { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { berthBin, type Containerd, startContainerd } from './support/harness.ts';
import { wireDescriptor } from './support/image-fixture.ts';
import { describeAsRoot, have, installed } from './support/root.ts';
import { buildRunImage, type RunImage, runImageGroup, runImagePasswd } from './support/run-image.ts';
import { seccompRules } from './support/util.ts';

/**
 * berth's spec builder against the spec ctr 1.6 stores: the same image goes into a real
 * containerd, `ctr containers create [flags] IMAGE ID CMD` makes a container there, and
 * `ctr containers info --spec ID` is compared with buildSpec for the same image and flags.
 *
 * Known differences, removed before comparing:
 * - what containerd 1.7 made default and ctr 1.6 lacks: the seccomp profile (ctr 1.6 adds its
 *   own only with --seccomp; compared on its own below) and the masked
 *   /sys/devices/virtual/powercap. Beyond those, none for the flag sets below: the JSON is even
 *   the same byte for byte. --privileged lists this process's capabilities and host
 *   devices on both sides (ctr runs from this process with the same capabilities and /dev).
 * - ctr 1.6 has no --user flag: the user cases use images whose config sets User, and berth
 *   gets the same image (and, separately, --user on the plain image must give the same spec).
 */
const ns = 'ctrspec';

/** berth's spec as ctr 1.6 builds it without --seccomp: no seccomp, and 1.6's masked paths. */
function as16(s: Spec): Spec {
  const linux = { ...s.linux };
  delete linux.seccomp;
  if (linux.maskedPaths) linux.maskedPaths = linux.maskedPaths.filter((p) => p !== '/sys/devices/virtual/powercap');
  return { ...s, linux };
}
describeAsRoot('berth spec = ctr spec', [installed('ctr'), installed('containerd')], () => {
  let containerd: Containerd;
  let rootfs: string;
  const images = new Map<string, RunImage>();
  let n = 0;

  const seed = async (img: RunImage) => {
    const c = new BerthClient({ address: containerd.address, namespace: ns });
    try {
      for (const [digest, blob] of img.blobs) await writeBlob(c, blob.bytes, { ref: `seed-${digest}`, expected: digest, labels: blob.labels });
      await c.images.Create({ image: { name: img.name, target: wireDescriptor(img.manifest) } });
    } finally {
      c.close();
    }
    images.set(img.name, img);
  };

  const configOf = (img: RunImage): ImageConfig => {
    for (const { bytes } of img.blobs.values()) {
      try {
        const doc = JSON.parse(bytes.toString('utf8')) as { rootfs?: unknown; config?: ImageConfig };
        if (doc.rootfs && doc.config) return doc.config;
      } catch {
        // a layer
      }
    }
    throw new Error('no config');
  };

  beforeAll(async () => {
    containerd = await startContainerd();
    await seed(buildRunImage());
    await seed(buildRunImage({ name: 'docker.io/library/busybox:user-name', config: { User: 'berth' } }));
    await seed(buildRunImage({ name: 'docker.io/library/busybox:user-ids', config: { User: '1000:50' } }));
    await seed(
      buildRunImage({ name: 'docker.io/library/busybox:entry', config: { Entrypoint: ['/bin/echo', 'entry'], Cmd: ['x'], WorkingDir: '/work', Env: ['A=1'] } }),
    );
    rootfs = mkdtempSync(join(tmpdir(), 'berth-ctrspec-'));
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'etc', 'passwd'), runImagePasswd);
    writeFileSync(join(rootfs, 'etc', 'group'), runImageGroup);
  });

  afterAll(async () => {
    if (containerd) {
      for (const id of containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
        containerd.ctr(['-n', ns, 'tasks', 'kill', '-s', 'SIGKILL', id]);
        containerd.ctr(['-n', ns, 'tasks', 'rm', '-f', id]);
        containerd.ctr(['-n', ns, 'containers', 'rm', id]);
      }
      await containerd.cleanup();
    }
    if (rootfs) rmSync(rootfs, { recursive: true, force: true });
  });

  /**
   * `ctr containers create`, or with `run` (for the flags only `ctr run` has, and its cpu
   * shares of 1024) `ctr run -d`, whose task may or may not start here: the container record
   * is made before the task either way.
   */
  const compare = (name: string, ctrFlags: string[], flags: SpecFlags, opts: { image?: string; args?: string[]; run?: boolean } = {}) =>
    it(name, () => {
      const image = opts.image ?? buildRunImage().name;
      const id = `spec${++n}`;
      const args = opts.args ?? ['sleep', '1'];
      if (opts.run) {
        containerd.ctr(['-n', ns, 'run', '-d', ...ctrFlags, image, id, ...args]);
        flags = { ...flags, cpuShares: 1024 };
      } else {
        const r = containerd.ctr(['-n', ns, 'containers', 'create', ...ctrFlags, image, id, ...args]);
        expect(r.code, r.stderr).toBe(0);
      }
      const info = containerd.ctr(['-n', ns, 'containers', 'info', '--spec', id]);
      expect(info.code, info.stderr).toBe(0);
      const theirs = JSON.parse(info.stdout) as unknown;
      const ours = as16(
        buildSpec({ namespace: ns, id, image: configOf(images.get(image)!), rootfs, flags: { ...flags, args: args.length > 0 ? args : undefined } }),
      );
      // JSON round trip: what berth sends is JSON, absent and undefined are the same there
      containerd.ctr(['-n', ns, 'tasks', 'rm', '-f', id]);
      containerd.ctr(['-n', ns, 'containers', 'rm', id]);
      expect(JSON.parse(JSON.stringify(ours))).toEqual(theirs);
      // and byte for byte, key order included (Go's struct order; nothing here needs Go's HTML escaping)
      expect(`${JSON.stringify(ours, null, 4)}\n`).toBe(info.stdout);
    });

  compare('no flags', [], {});
  compare('image cmd (no args)', [], {}, { args: [] });
  compare('entrypoint, workdir, env from the image', [], {}, { image: 'docker.io/library/busybox:entry', args: [] });
  compare('args replace the entrypoint', [], {}, { image: 'docker.io/library/busybox:entry', args: ['ls'] });
  compare('--env', ['--env', 'FOO=bar', '--env', 'IMAGE_VAR=over'], { env: ['FOO=bar', 'IMAGE_VAR=over'] });
  compare('--cwd', ['--cwd', '/work'], { cwd: '/work' });
  compare('-t', ['-t'], { tty: true });
  compare('USER berth (image)', [], {}, { image: 'docker.io/library/busybox:user-name' });
  compare('USER 1000:50 (image)', [], {}, { image: 'docker.io/library/busybox:user-ids' });
  compare('--net-host', ['--net-host'], { netHost: true });
  compare('--privileged', ['--privileged'], { privileged: true });
  compare('--read-only', ['--read-only'], { readOnly: true });
  compare('--label', ['--label', 'a=b', '--label', 'flag'], { labels: { a: 'b', flag: 'true' } });
  compare('--memory-limit', ['--memory-limit', '67108864'], { memoryLimit: 67108864 });
  compare('--cpus (ctr run)', ['--cpus', '1.5'], { cpus: 1.5 }, { run: true });
  compare('plain ctr run: cpu shares 1024', [], {}, { run: true });
  compare('--mount', ['--mount', 'type=bind,src=/tmp,dst=/host,options=rbind:ro'], {
    mounts: [{ destination: '/host', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] }],
  });
  compare('--cap-add / --cap-drop', ['--cap-add', 'CAP_NET_ADMIN', '--cap-drop', 'CAP_CHOWN'], {
    capAdd: normalizeCapabilities(['net_admin']),
    capDrop: normalizeCapabilities(['chown']),
  });
  compare(
    'many at once',
    ['--env', 'X=1', '--cwd', '/tmp', '--net-host', '--read-only', '--label', 'k=v', '--memory-limit', '1048576', '--cpus', '0.5'],
    {
      env: ['X=1'],
      cwd: '/tmp',
      netHost: true,
      readOnly: true,
      labels: { k: 'v' },
      memoryLimit: 1048576,
      cpus: 0.5,
    },
    { run: true },
  );

  it("the default seccomp profile is ctr --seccomp's (containerd 1.6.20) with what containerd changed since", () => {
    const image = buildRunImage().name;
    const id = `spec${++n}`;
    expect(containerd.ctr(['-n', ns, 'containers', 'create', '--seccomp', image, id, 'true']).code).toBe(0);
    const info = containerd.ctr(['-n', ns, 'containers', 'info', '--spec', id]);
    containerd.ctr(['-n', ns, 'containers', 'rm', id]);
    const theirs = (JSON.parse(info.stdout) as Spec).linux!.seccomp!;
    const ours = buildSpec({ namespace: ns, id, image: configOf(images.get(image)!), rootfs, flags: { args: ['true'] } }).linux!.seccomp!;
    expect({ ...ours, syscalls: undefined }).toEqual({ ...theirs, syscalls: undefined, defaultErrnoRet: 1 });
    const expected = seccompRules(theirs as LinuxSeccomp);
    // containerd 1.7: syscalls of newer kernels, name_to_handle_at for all (it was CAP_SYS_ADMIN's),
    // socket for every family but AF_ALG and AF_VSOCK, process_vm_readv/writev with ptrace;
    // containerd 2.0 (and moby): no io_uring, the syscalls of kernels 6.8 to 6.13
    const added = [
      'cachestat',
      'fchmodat2',
      'futex_requeue',
      'futex_wait',
      'futex_wake',
      'map_shadow_stack',
      'name_to_handle_at',
      'process_vm_readv',
      'process_vm_writev',
    ];
    const added20 = [
      'getxattrat',
      'listmount',
      'listxattrat',
      'lsm_get_self_attr',
      'lsm_list_modules',
      'lsm_set_self_attr',
      'mseal',
      'removexattrat',
      'setxattrat',
      'statmount',
      'uretprobe',
    ];
    for (const name of [...added, ...added20]) {
      expect(expected.has(name), name).toBe(false);
      expected.set(name, ['SCMP_ACT_ALLOW']);
    }
    for (const name of ['io_uring_enter', 'io_uring_register', 'io_uring_setup']) expect(expected.delete(name), name).toBe(true);
    expect(expected.get('socket')).toEqual(['SCMP_ACT_ALLOW']);
    expected.set('socket', ['SCMP_ACT_ALLOW 0 SCMP_CMP_LT 38', 'SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 39', 'SCMP_ACT_ALLOW 0 SCMP_CMP_GT 40']);
    expect(seccompRules(ours)).toEqual(expected);
  });

  it('--user on the plain image gives what USER in the image gives', () => {
    const plain = configOf(images.get(buildRunImage().name)!);
    for (const [user, tag] of [
      ['berth', 'user-name'],
      ['1000:50', 'user-ids'],
    ] as const) {
      const viaFlag = buildSpec({ namespace: ns, id: 'x', image: plain, rootfs, flags: { user } });
      const viaImage = buildSpec({ namespace: ns, id: 'x', image: configOf(images.get(`docker.io/library/busybox:${tag}`)!), rootfs });
      expect(viaFlag).toEqual(viaImage);
    }
  });

  /**
   * berth's client against containerd itself: ctr's RPC sequence must work with the real
   * thing (the image was unpacked there by the ctr cases above).
   */
  describe('berth run against containerd', () => {
    const berth = (args: string[], input = '') => {
      const r = spawnSync(berthBin, ['--address', containerd.address, '-n', ns, ...args], {
        input,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, BERTH_FIFO_DIR: join(rootfs, 'fifo') },
      });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };

    beforeAll(() => {
      // containerd has no berth unpack extension: let ctr unpack the image
      expect(containerd.ctr(['-n', ns, 'containers', 'create', buildRunImage().name, 'unpacker', 'true']).code).toBe(0);
      expect(containerd.ctr(['-n', ns, 'containers', 'rm', 'unpacker']).code).toBe(0);
    });

    it('run --rm echo hi, exit status, stdin, env/cwd/user', () => {
      expect(berth(['run', '--rm', buildRunImage().name, 'brun1', 'echo', 'hi'])).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
      expect(berth(['run', '--rm', buildRunImage().name, 'brun2', 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({
        code: 3,
        stdout: 'out\n',
        stderr: 'err\n',
      });
      expect(berth(['run', '--rm', buildRunImage().name, 'brun3', 'sh', '-c', 'cat; echo done'], 'a\nb\n').stdout).toBe('a\nb\ndone\n');
      const r = berth([
        'run',
        '--rm',
        '--env',
        'FOO=bar',
        '--cwd',
        '/work',
        '--user',
        'berth',
        buildRunImage().name,
        'brun4',
        'sh',
        '-c',
        'id; pwd; echo $FOO $IMAGE_VAR',
      ]);
      expect(r).toEqual({ code: 0, stdout: 'uid=1000(berth) gid=1000(berth) groups=29(audio),50(staff),1000(berth)\n/work\nbar from-image\n', stderr: '' });
      expect(containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).not.toMatch(/brun/);
      expect(containerd.ctr(['-n', ns, 'snapshots', 'ls']).stdout).not.toMatch(/brun/);
    });

    it('-d, tasks ls/ps/exec/kill/wait/rm; containers rm refuses a running task', () => {
      const image = buildRunImage().name;
      expect(berth(['run', '-d', image, 'bd1', 'sleep', '30'])).toEqual({ code: 0, stdout: 'bd1\n', stderr: '' });
      expect(berth(['tasks', 'ls']).stdout).toMatch(/^TASK\s+PID\s+STATUS\nbd1\s+\d+\s+RUNNING\n$/);
      expect(berth(['tasks', 'ps', 'bd1']).stdout).toMatch(/^PID\s+INFO\n\d+\s+-\n$/);
      expect(berth(['tasks', 'exec', '--exec-id', 'e1', 'bd1', 'sh', '-c', 'echo in-exec $IMAGE_VAR; pwd; exit 4'])).toEqual({
        code: 4,
        stdout: 'in-exec from-image\n/\n',
        stderr: '',
      });
      expect(berth(['tasks', 'exec', '--exec-id', 'e2', '--user', 'berth', '--cwd', '/tmp', 'bd1', 'sh', '-c', 'id -u; pwd'])).toEqual({
        code: 0,
        stdout: '1000\n/tmp\n',
        stderr: '',
      });
      const rm = berth(['containers', 'rm', 'bd1']);
      expect(rm.code).toBe(1);
      expect(rm.stderr).toMatch(/^berth: cannot delete a running task/);
      expect(berth(['tasks', 'pause', 'bd1']).code).toBe(0);
      expect(berth(['tasks', 'ls']).stdout).toMatch(/bd1\s+\d+\s+PAUSED/);
      expect(berth(['tasks', 'resume', 'bd1']).code).toBe(0);
      // sleep is pid 1 of its namespace: SIGTERM (the default) has no effect on it
      expect(berth(['tasks', 'kill', '-s', 'KILL', 'bd1']).code).toBe(0);
      expect(berth(['tasks', 'wait', 'bd1']).stdout).toBe('137\n');
      expect(berth(['tasks', 'rm', 'bd1'])).toEqual({ code: 0, stdout: 'bd1\n', stderr: '' });
      expect(berth(['containers', 'rm', 'bd1'])).toEqual({ code: 0, stdout: 'bd1\n', stderr: '' });
      expect(containerd.ctr(['-n', ns, 'snapshots', 'ls']).stdout).not.toMatch(/bd1/);
    });

    it('containers create + tasks start; --log-uri and logs', async () => {
      const image = buildRunImage().name;
      expect(berth(['containers', 'create', image, 'bd2', 'sh', '-c', 'echo started; exit 2']).code).toBe(0);
      expect(berth(['tasks', 'start', 'bd2'])).toEqual({ code: 2, stdout: 'started\n', stderr: '' });
      expect(berth(['tasks', 'ls', '-q']).stdout).toBe('');
      expect(berth(['containers', 'rm', 'bd2']).code).toBe(0);
      const log = join(rootfs, 'bd3.log');
      expect(berth(['run', '--log-uri', `file://${log}`, image, 'bd3', 'sh', '-c', 'echo logged; echo also >&2'])).toEqual({ code: 0, stdout: '', stderr: '' });
      // containerd's shim copies stdout and stderr separately, and may still be copying when the
      // exit is reported: their order in the file varies, and the second line can land a moment later
      await expect.poll(() => berth(['logs', 'bd3']).stdout.split('\n').sort(), { timeout: 3000 }).toEqual(['', 'also', 'logged']);
      expect(berth(['containers', 'rm', 'bd3']).code).toBe(0);
    });

    it('--rm cleans up when the task cannot start', () => {
      const r = berth(['run', '--rm', buildRunImage().name, 'bd4', '/no/such/binary']);
      expect(r.code).toBe(1);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).not.toMatch(/bd4/);
      expect(containerd.ctr(['-n', ns, 'snapshots', 'ls']).stdout).not.toMatch(/bd4/);
    });

    it('tasks metrics and update', () => {
      const image = buildRunImage().name;
      expect(berth(['run', '-d', image, 'bd5', 'sleep', '30']).code).toBe(0);
      try {
        const m = berth(['tasks', 'metrics', 'bd5']);
        expect(m.stderr).toBe('');
        expect(m.stdout).toMatch(/^METRIC\s+VALUE\n/);
        expect(berth(['tasks', 'update', '--pids-limit', '50', 'bd5'])).toEqual({ code: 0, stdout: '', stderr: '' });
      } finally {
        berth(['tasks', 'rm', '-f', 'bd5']);
        berth(['containers', 'rm', 'bd5']);
      }
    });

    it('SIGINT is forwarded to the container, and --rm still cleans up', async () => {
      const p = spawn(
        berthBin,
        [
          '--address',
          containerd.address,
          '-n',
          ns,
          'run',
          '--rm',
          buildRunImage().name,
          'bd6',
          'sh',
          '-c',
          'trap "echo got INT; exit 130" INT; echo ready; while true; do sleep 0.1; done',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, BERTH_FIFO_DIR: join(rootfs, 'fifo') },
        },
      );
      let out = '';
      p.stdout!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
      for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toBe('ready\n');
      p.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(out).toBe('ready\ngot INT\n');
      expect(containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).not.toMatch(/bd6/);
      expect(containerd.ctr(['-n', ns, 'snapshots', 'ls']).stdout).not.toMatch(/bd6/);
    });

    it.skipIf(!have('script'))('-t: a terminal inside, sized like ours, raw mode restored', async () => {
      const cmd = [
        berthBin,
        '--address',
        containerd.address,
        '-n',
        ns,
        'run',
        '--rm',
        '-t',
        buildRunImage().name,
        'bd7',
        'sh',
        '-c',
        'tty; stty size; echo $TERM',
      ]
        .map((a) => `'${a}'`)
        .join(' ');
      // script's stdin is kept open while berth runs: at its EOF script would type an EOF character
      const inner = `stty cols 91 rows 33; ${cmd}; stty -a | grep -o -- '-icanon' || echo cooked`;
      const p = spawn('script', ['-qec', inner, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, BERTH_FIFO_DIR: join(rootfs, 'fifo') },
      });
      let stdout = '';
      p.stdout!.on('data', (d) => (stdout += d));
      await new Promise((r) => p.once('exit', r));
      p.stdin!.destroy();
      const r = { stdout };
      const lines = r.stdout.replace(/\r/g, '').split('\n').filter(Boolean);
      expect(lines).toEqual(['/dev/pts/0', '33 91', 'xterm', 'cooked']);
      expect(containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).not.toMatch(/bd7/);
    });

    it('run -d --log-driver none keeps the FIFOs; tasks attach reopens them; tasks rm removes them', () => {
      const image = buildRunImage().name;
      expect(berth(['run', '-d', '--log-driver', 'none', image, 'bd8', 'sh', '-c', 'read line; echo got $line; exit 5'])).toEqual({
        code: 0,
        stdout: 'bd8\n',
        stderr: '',
      });
      const fifos = readdirSync(join(rootfs, 'fifo'));
      expect(fifos).toHaveLength(1);
      expect(readdirSync(join(rootfs, 'fifo', fifos[0]!)).sort()).toEqual(['bd8-stderr', 'bd8-stdin', 'bd8-stdout']);
      expect(berth(['tasks', 'attach', 'bd8'], 'hello\n')).toEqual({ code: 5, stdout: 'got hello\n', stderr: '' });
      expect(berth(['tasks', 'rm', 'bd8'])).toEqual({ code: 0, stdout: 'bd8\n', stderr: '' });
      expect(readdirSync(join(rootfs, 'fifo'))).toEqual([]);
      const gone = berth(['tasks', 'attach', 'bd8']);
      expect(gone.code).toBe(1);
      expect(berth(['containers', 'rm', 'bd8']).code).toBe(0);
    });

    it('containers info and ls print what ctr prints (times aside)', () => {
      expect(berth(['containers', 'create', '--label', 'a=b', buildRunImage().name, 'bd9', 'true']).code).toBe(0);
      try {
        const times = (o: Record<string, unknown>) => ({ ...o, CreatedAt: typeof o.CreatedAt, UpdatedAt: typeof o.UpdatedAt });
        const ours = JSON.parse(berth(['containers', 'info', 'bd9']).stdout) as Record<string, unknown>;
        const theirs = JSON.parse(containerd.ctr(['-n', ns, 'containers', 'info', 'bd9']).stdout) as Record<string, unknown>;
        expect(times(ours)).toEqual(times(theirs));
        expect(berth(['containers', 'info', '--spec', 'bd9']).stdout).toBe(containerd.ctr(['-n', ns, 'containers', 'info', '--spec', 'bd9']).stdout);
        expect(berth(['containers', 'ls', '-q']).stdout).toBe(containerd.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout);
      } finally {
        berth(['containers', 'rm', 'bd9']);
      }
    });
  });
});
