import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalNumber } from '../core/signals.ts';
import { removeFifosOf } from '../core/stdio-fifos.ts';
import { logFileOf, normalizeLogUri } from '../ctl/io/stdio.ts';
import { createFifos } from '../native/fifo.ts';
import { type Berthd, berthBin, repo, startBerthd } from './support/harness.ts';
import { describeAsRoot, have, itAsRoot } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { eventually } from './support/util.ts';

/** `berth run`, `berth containers …` and `berth tasks …` against a berthd of their own (as root). */

/**
 * The client side of the stdio FIFOs (ctl/io/stdio.ts, from dist/) in a child process, with
 * this test playing the monitor: it opens the other ends by path, as berth-monitor (or a shim) does.
 */
describe('stdio FIFOs (test plays the monitor)', () => {
  const child = `
    import { writeSync } from 'node:fs';
    import { ClientIO } from ${JSON.stringify(join(repo, 'dist', 'ctl', 'io', 'stdio.js'))};
    const io = ClientIO.create({ id: 'c1', terminal: false, fifoDir: process.argv[1] });
    writeSync(3, JSON.stringify(io.paths) + '\\n');
    io.start(() => writeSync(3, 'stdin-closed\\n'));
    await new Promise((r) => process.once('SIGUSR2', r));
    await io.drain(3000);
    io.close();
    writeSync(3, 'done\\n');
    process.exit(0);
  `;

  it('signal names and numbers, log URIs', () => {
    expect([
      signalNumber('SIGKILL'),
      signalNumber('term'),
      signalNumber('9'),
      signalNumber('SIGRTMIN'),
      signalNumber('RTMIN+3'),
      signalNumber('SIGRTMAX-1'),
    ]).toEqual([9, 15, 9, 34, 37, 63]);
    expect(() => signalNumber('SIGNOPE')).toThrow(/invalid signal/);
    expect(() => signalNumber('0')).toThrow(/invalid signal/);
    expect(normalizeLogUri('/var/log/x.log')).toBe('file:///var/log/x.log');
    expect(normalizeLogUri('binary:///usr/bin/logger?a=b')).toBe('binary:///usr/bin/logger?a=b');
    expect(() => normalizeLogUri('http://x/y')).toThrow(/only file:\/\/ and binary:\/\//);
    expect(() => normalizeLogUri('file://')).toThrow(/absolute/);
    expect(logFileOf('file:///var/log/a%20b.log')).toBe('/var/log/a b.log');
    expect(logFileOf('binary:///x')).toBeUndefined();
  });

  itAsRoot('FIFO sets: created 0700 under a random dir, removed only when they are ours', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-fifo-set-'));
    try {
      const set = createFifos(dir, 'c9', { terminal: true });
      expect(set.stderr).toBe('');
      expect(readdirSync(set.dir).sort()).toEqual(['c9-stdin', 'c9-stdout']);
      // a directory holding anything else is left alone
      writeFileSync(join(set.dir, 'other'), '');
      removeFifosOf('c9', [set.stdin, set.stdout]);
      expect(existsSync(set.dir)).toBe(true);
      rmSync(join(set.dir, 'other'));
      removeFifosOf('c9', [set.stdin, set.stdout, '']);
      expect(existsSync(set.dir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copies stdout/stderr out, stdin in, ends stdin at EOF, removes the FIFOs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-fifo-unit-'));
    try {
      const p = spawn(process.execPath, ['--input-type=module', '-e', child, dir], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let control = '';
      p.stdout!.on('data', (d) => (out += d));
      p.stderr!.on('data', (d) => (err += d));
      const ctl = p.stdio[3] as NodeJS.ReadableStream;
      const lines: string[] = [];
      const waiters: Array<() => void> = [];
      ctl.on('data', (d) => {
        control += d;
        const parts = control.split('\n');
        control = parts.pop()!;
        lines.push(...parts);
        for (const w of waiters.splice(0)) w();
      });
      const line = async (want?: string): Promise<string> => {
        for (;;) {
          const i = want === undefined ? (lines.length > 0 ? 0 : -1) : lines.indexOf(want);
          if (i >= 0) return lines.splice(i, 1)[0]!;
          await new Promise<void>((r) => waiters.push(r));
        }
      };
      const paths = JSON.parse(await line()) as { stdin: string; stdout: string; stderr: string; terminal: boolean };
      expect(paths.stdout).toBe(join(dir, paths.stdout.split('/').at(-2)!, 'c1-stdout'));
      expect(paths.terminal).toBe(false);

      const o = openSync(paths.stdout, constants.O_WRONLY);
      const e = openSync(paths.stderr, constants.O_WRONLY);
      const i = openSync(paths.stdin, constants.O_RDONLY | constants.O_NONBLOCK);
      writeSync(o, 'to stdout\n');
      writeSync(e, 'to stderr\n');
      p.stdin!.end('typed input\n');
      await line('stdin-closed');
      const buf = Buffer.alloc(100);
      let got = '';
      for (let tries = 0; tries < 100 && !got.endsWith('\n'); tries++) {
        try {
          const n = readSync(i, buf);
          if (n === 0) break;
          got += buf.subarray(0, n).toString();
        } catch (x) {
          if ((x as NodeJS.ErrnoException).code !== 'EAGAIN') throw x;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      expect(got).toBe('typed input\n');
      // the client closed its end after EOF: the monitor's reader sees EOF
      expect(readSync(i, buf)).toBe(0);
      closeSync(i);
      writeSync(o, 'more\n');
      closeSync(o);
      closeSync(e);
      p.kill('SIGUSR2');
      await line('done');
      await new Promise((r) => p.once('exit', r));
      expect(out).toBe('to stdout\nmore\n');
      expect(err).toBe('to stderr\n');
      expect(existsSync(join(paths.stdout, '..'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeAsRoot('berth run / containers / tasks', () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  let scratch: string;
  const berth = (args: string[], opts: { input?: string } = {}) => b.berth(args, { input: opts.input ?? '', env: { BERTH_FIFO_DIR: fifoDir } });

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-fifo-'));
    scratch = mkdtempSync(join(tmpdir(), 'berth-run-'));
  });

  afterAll(async () => {
    if (b) {
      for (const id of berth(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) berth(['tasks', 'rm', '-f', id]);
      for (const id of berth(['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean)) berth(['containers', 'rm', id]);
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const snapshots = () => berth(['snapshots', 'ls']).stdout;

  describe('containers', () => {
    it('create, ls, info, label, rm (and the snapshot goes with it)', () => {
      const r = berth(['containers', 'create', '--env', 'A=1', '--label', 'team=x', '--user', 'berth', image, 'box1', 'echo', 'hi']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(berth(['c', 'ls', '-q']).stdout).toBe('box1\n');
      expect(berth(['c', 'ls']).stdout).toMatch(/^CONTAINER\s+IMAGE\s+RUNTIME\nbox1\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2\n$/);
      const info = JSON.parse(berth(['c', 'info', 'box1']).stdout) as {
        Labels: Record<string, string>;
        Spec: { process: { args: string[]; env: string[]; user: unknown }; annotations: Record<string, string>; linux: { cgroupsPath: string } };
        SnapshotKey: string;
        Snapshotter: string;
        Runtime: { Name: string; Options: { type_url: string } };
      };
      expect(info.Spec.process.args).toEqual(['echo', 'hi']);
      expect(info.Spec.process.env).toContain('A=1');
      expect(info.Spec.process.env).toContain('IMAGE_VAR=from-image');
      expect(info.Spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 29, 50] });
      expect(info.Spec.annotations).toEqual({ team: 'x' });
      expect(info.Spec.linux.cgroupsPath).toBe('/default/box1');
      expect(info.Labels).toEqual({ 'io.containerd.image.config.stop-signal': 'SIGTERM', team: 'x' });
      expect([info.Snapshotter, info.SnapshotKey]).toEqual(['overlayfs', 'box1']);
      expect(info.Runtime).toMatchObject({ Name: 'io.containerd.runc.v2', Options: { type_url: 'containerd.runc.v1.Options' } });
      expect(snapshots()).toMatch(/^box1\s+sha256:/m);
      // ctr reads the same record
      const ctrInfo = JSON.parse(b.ctr(['containers', 'info', '--spec', 'box1']).stdout) as { process: { args: string[] } };
      expect(ctrInfo.process.args).toEqual(['echo', 'hi']);

      expect(berth(['c', 'label', 'box1', 'team=', 'tier=db']).stdout).toBe('io.containerd.image.config.stop-signal=SIGTERM,tier=db\n');
      expect(berth(['c', 'rm', 'box1'])).toEqual({ code: 0, stdout: 'box1\n', stderr: '' });
      expect(berth(['c', 'ls', '-q']).stdout).toBe('');
      expect(snapshots()).not.toMatch(/^box1\s/m);
    });

    it('unpacks the image first when its snapshots are gone', () => {
      const chain = berth(['snapshots', 'ls'])
        .stdout.split('\n')
        .find((l) => l.startsWith('sha256:'))!
        .split(/\s+/)[0]!;
      expect(berth(['snapshots', 'rm', chain]).code).toBe(0);
      expect(berth(['containers', 'create', image, 'unpacked', 'true'])).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(snapshots()).toMatch(new RegExp(`^unpacked\\s+${chain}`, 'm'));
      expect(berth(['c', 'rm', 'unpacked']).code).toBe(0);
    });

    it('refuses an unknown user, removing the snapshot it prepared', () => {
      const r = berth(['containers', 'create', '--user', 'nosuch', image, 'box2', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^berth: no users found: no user "nosuch" in the image's \/etc\/passwd\n$/);
      expect(berth(['c', 'ls', '-q']).stdout).toBe('');
      expect(snapshots()).not.toMatch(/^box2\s/m);
    });

    it('refuses a duplicate id and leaves the first container alone', () => {
      expect(berth(['containers', 'create', image, 'dup', 'true']).code).toBe(0);
      const r = berth(['containers', 'create', image, 'dup', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/already exists/);
      expect(berth(['c', 'ls', '-q']).stdout).toBe('dup\n');
      expect(berth(['c', 'rm', 'dup']).code).toBe(0);
    });

    it('refuses bad flags with one line', () => {
      for (const args of [
        ['--cap-add', 'BOGUS'],
        ['--mount', 'type=bind,src=/tmp'],
        ['--cwd', 'relative'],
        ['--runtime', 'io.containerd.other.v1', '--runc-binary', 'crun'],
      ]) {
        const r = berth(['containers', 'create', ...args, image, 'bad', 'true']);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr.split('\n').filter(Boolean), args.join(' ')).toHaveLength(1);
      }
      expect(berth(['c', 'ls', '-q']).stdout).toBe('');
      expect(snapshots()).not.toMatch(/^bad\s/m);
    });
  });

  describe('run and tasks', () => {
    it('--rm IMAGE id echo hi prints hi and leaves nothing', async () => {
      const r = berth(['run', '--rm', image, 'r1', 'echo', 'hi']);
      expect(r).toMatchObject({ code: 0, stdout: 'hi\n', stderr: '' });
      // berthd removes it once the process exited (not before berth returns)
      expect(
        await eventually(
          () => berth(['c', 'ls', '-q']).stdout,
          (s) => s === '',
        ),
      ).toBe('');
      expect(berth(['tasks', 'ls', '-q']).stdout).toBe('');
      expect(snapshots()).not.toMatch(/^r1\s/m);
    });

    it("exits with the container's exit status, stderr separate", async () => {
      const r = berth(['run', '--rm', image, 'r2', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
      // berthd removes it once the process exited; berth run does not wait for that
      expect(
        await eventually(
          () => berth(['c', 'ls', '-q']).stdout,
          (s) => s === '',
        ),
      ).toBe('');
    });

    it('passes stdin through and closes it at EOF', () => {
      const r = berth(['run', '--rm', image, 'r3', 'sh', '-c', 'cat; echo done'], { input: 'line one\nline two\n' });
      expect(r).toMatchObject({ code: 0, stdout: 'line one\nline two\ndone\n' });
    });

    it('gives the process /dev/null for a stdin that is /dev/null: no stdin FIFO (ctl/commands/run.ts)', () => {
      const r = spawnSync(berthBin, ['--address', b.address, 'run', '--rm', image, 'r3null', 'sh', '-c', 'cat; readlink /proc/self/fd/0; echo done'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BERTH_FIFO_DIR: fifoDir },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: '/dev/null\ndone\n', stderr: '' });
      // a pipe is still copied (through the FIFO and the monitor's pipe)
      const piped = berth(['run', '--rm', image, 'r3pipe', 'sh', '-c', 'readlink /proc/self/fd/0']);
      expect(piped).toMatchObject({ code: 0, stdout: expect.stringMatching(/^pipe:/) });
    });

    it('env, cwd and user are what the spec says', () => {
      const r = berth(['run', '--rm', '--env', 'FOO=bar', '--cwd', '/work', '--user', 'berth', image, 'r4', 'sh', '-c', 'id; pwd; echo $FOO $IMAGE_VAR']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('uid=1000(berth) gid=1000(berth) groups=29(audio),50(staff),1000(berth)\n/work\nbar from-image\n');
      const n = berth(['run', '--rm', '--user', '1000:50', image, 'r5', 'id']);
      expect(n.stdout).toMatch(/^uid=1000\(berth\) gid=50\(staff\)/);
    });

    it('without --rm the container stays, its task deleted; containers rm cleans up', () => {
      expect(berth(['run', image, 'r6', 'true']).code).toBe(0);
      expect(berth(['c', 'ls', '-q']).stdout).toBe('r6\n');
      expect(berth(['tasks', 'ls', '-q']).stdout).toBe('');
      expect(berth(['c', 'rm', 'r6']).code).toBe(0);
      expect(snapshots()).not.toMatch(/^r6\s/m);
    });

    it('--rm cleans up when the task cannot start', () => {
      const r = berth(['run', '--rm', image, 'r7', '/no/such/binary']);
      expect(r.code).not.toBe(0);
      expect(berth(['c', 'ls', '-q']).stdout).toBe('');
      expect(snapshots()).not.toMatch(/^r7\s/m);
    });

    it('-d, tasks ls/ps/exec/kill/wait/rm, containers rm refuses a running task', () => {
      expect(berth(['run', '-d', image, 'r8', 'sleep', '30'])).toMatchObject({ code: 0 });
      expect(berth(['tasks', 'ls']).stdout).toMatch(/^TASK\s+PID\s+STATUS\nr8\s+\d+\s+RUNNING\n$/);
      expect(berth(['tasks', 'ps', 'r8']).stdout).toMatch(/^PID\s+INFO\n\d+/);
      const ex = berth(['tasks', 'exec', '--exec-id', 'e1', 'r8', 'sh', '-c', 'echo in-exec; exit 4']);
      expect(ex).toMatchObject({ code: 4, stdout: 'in-exec\n' });
      const rm = berth(['c', 'rm', 'r8']);
      expect(rm.code).toBe(1);
      expect(rm.stderr).toMatch(/cannot delete a running task/);
      // sleep is pid 1 of its namespace: SIGTERM (the default) has no effect on it
      expect(berth(['tasks', 'kill', '-s', 'KILL', 'r8']).code).toBe(0);
      expect(berth(['tasks', 'wait', 'r8']).stdout).toBe('137\n');
      expect(berth(['tasks', 'rm', 'r8']).code).toBe(0);
      expect(berth(['c', 'rm', 'r8']).code).toBe(0);
    });

    it('--log-uri file:// and berth logs', () => {
      const log = join(scratch, 'r9.log');
      expect(berth(['run', '--log-uri', `file://${log}`, image, 'r9', 'sh', '-c', 'echo logged; echo also >&2']).code).toBe(0);
      expect(readFileSync(log, 'utf8')).toMatch(/logged/);
      expect(berth(['logs', 'r9']).stdout).toMatch(/logged\n[\s\S]*also/);
      expect(berth(['c', 'rm', 'r9']).code).toBe(0);
    });

    it('--env-file and --read-only', () => {
      const envFile = join(scratch, 'env');
      writeFileSync(envFile, '# comment\nFROM_FILE=yes\n\n');
      const r = berth(['run', '--rm', '--env-file', envFile, '--read-only', image, 'r10', 'sh', '-c', 'echo $FROM_FILE; touch /x 2>/dev/null || echo ro']);
      expect(r.stdout).toBe('yes\nro\n');
    });

    it('run -d --log-driver none keeps the FIFOs; tasks attach reopens them; tasks rm removes them', async () => {
      // stdin ends when run -d exits (containerd's shim semantics); output waits in the FIFO. The
      // container writes once the test has attached (a file it waits for), not after a fixed time.
      const script = 'read line; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo got "$line" late; exit 5';
      expect(berth(['run', '-d', '--log-driver', 'none', image, 'r11', 'sh', '-c', script])).toEqual({ code: 0, stdout: 'r11\n', stderr: '' });
      const dirs = readdirSync(fifoDir);
      expect(dirs).toHaveLength(1);
      expect(readdirSync(join(fifoDir, dirs[0]!)).sort()).toEqual(['r11-stderr', 'r11-stdin', 'r11-stdout']);
      const attach = spawn(berthBin, ['--address', b.address, 'tasks', 'attach', 'r11'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BERTH_FIFO_DIR: fifoDir },
      });
      let stdout = '';
      let stderr = '';
      attach.stdout.on('data', (d: Buffer) => (stdout += d));
      attach.stderr.on('data', (d: Buffer) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => attach.on('close', resolve));
      await new Promise((r) => setTimeout(r, 1000));
      expect(berth(['tasks', 'exec', '--exec-id', 'go', 'r11', 'touch', '/tmp/go'])).toEqual({ code: 0, stdout: '', stderr: '' });
      expect({ code: await exited, stdout, stderr }).toEqual({ code: 5, stdout: 'got  late\n', stderr: '' });
      expect(berth(['tasks', 'rm', 'r11'])).toEqual({ code: 0, stdout: 'r11\n', stderr: '' });
      expect(readdirSync(fifoDir)).toEqual([]);
      expect(berth(['c', 'rm', 'r11']).code).toBe(0);
    });

    it('SIGINT is forwarded to the container, and --rm still cleans up', async () => {
      const p = spawn(
        berthBin,
        ['--address', b.address, 'run', '--rm', image, 'r12', 'sh', '-c', 'trap "echo got INT; exit 130" INT; echo ready; while true; do sleep 0.1; done'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, BERTH_FIFO_DIR: fifoDir },
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
      expect(
        await eventually(
          () => berth(['c', 'ls', '-q']).stdout,
          (s) => s === '',
        ),
      ).toBe('');
      expect(snapshots()).not.toMatch(/^r12\s/m);
    });

    it.skipIf(!have('script'))('-t: a terminal inside, sized like ours, raw mode restored', async () => {
      const cmd = [berthBin, '--address', b.address, 'run', '--rm', '-t', image, 'r13', 'sh', '-c', 'tty; stty size; echo $TERM']
        .map((a) => `'${a}'`)
        .join(' ');
      // script's stdin is kept open while berth runs: at its EOF script would type an EOF character
      const inner = `stty cols 91 rows 33; ${cmd}; stty -a | grep -o -- '-icanon' || echo cooked`;
      const p = spawn('script', ['-qec', inner, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, BERTH_FIFO_DIR: fifoDir } });
      let stdout = '';
      p.stdout!.on('data', (d) => (stdout += d));
      await new Promise((r) => p.once('exit', r));
      p.stdin!.destroy();
      const r = { stdout };
      expect(r.stdout.replace(/\r/g, '').split('\n').filter(Boolean)).toEqual(['/dev/pts/0', '33 91', 'xterm', 'cooked']);
      expect(
        await eventually(
          () => berth(['c', 'ls', '-q']).stdout,
          (s) => s === '',
        ),
      ).toBe('');
    });

    it('leaves no FIFO directories behind', async () => {
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/berth-rootfs-/);
      expect(
        await eventually(
          () => berth(['c', 'ls', '-q']).stdout,
          (s) => s === '',
        ),
      ).toBe('');
      expect(readdirSync(fifoDir)).toEqual([]);
    });
  });
});
