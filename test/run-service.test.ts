import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunRequest } from '../api/gen/berth/services/run/v1/RunRequest.ts';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { describeAsRoot } from './support/root.ts';
import { buildRunImage, loadRunImage } from './support/run-image.ts';
import { eventually, failure, sleep } from './support/util.ts';

/**
 * berthd's server-side run (berth.services.run.v1.Run, daemon/run/) and its auto-remove: what
 * `berth run` uses against berthd. The spec it builds is the one the CLI builds for `containers
 * create`; an auto-remove container goes once its process exits, whoever is still listening.
 */
describeAsRoot('server-side run and auto-remove', () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  const berth = (args: string[]) => b.berth(args, { env: { BERTH_FIFO_DIR: fifoDir } });
  const lines = (args: string[]) => berth(args).stdout.split('\n').filter(Boolean);
  const containers = () => lines(['c', 'ls', '-q']);
  const activeSnapshots = () => lines(['snapshots', 'ls']).filter((l) => /\bActive\b/.test(l));
  type Left = { containers: string[]; tasks: string[]; active: string[]; fifos: string[] };
  const nothingLeft = (): Left => ({ containers: containers(), tasks: lines(['t', 'ls', '-q']), active: activeSnapshots(), fifos: readdirSync(fifoDir) });
  const empty: Left = { containers: [], tasks: [], active: [], fifos: [] };
  const isEmpty = (v: Left) => JSON.stringify(v) === JSON.stringify(empty);

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-run-fifo-'));
  });

  afterAll(async () => {
    if (b) {
      for (const id of lines(['t', 'ls', '-q'])) berth(['tasks', 'rm', '-f', id]);
      for (const id of containers()) berth(['containers', 'rm', id]);
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
  });

  it('run --rm returns the exit status; berthd then removes task, container, snapshot and FIFOs', async () => {
    const r = berth(['run', '--rm', image, 'a1', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    expect(await eventually(nothingLeft, isEmpty)).toEqual(empty);
  });

  it('finds an image by the short name pull normalises (busybox → docker.io/library/busybox:latest)', () => {
    expect(image).toBe('docker.io/library/busybox:latest');
    expect(berth(['run', '--rm', '--net', 'none', 'busybox', 'short', 'echo', 'short name'])).toMatchObject({ code: 0, stdout: 'short name\n', stderr: '' });
  });

  it('an id is free again for the next run --rm at once', () => {
    for (let i = 0; i < 3; i++) expect(berth(['run', '--rm', image, 'a2', 'true'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('a killed CLI leaves nothing once the process exits', async () => {
    const cli = spawn(berthBin, ['--address', b.address, 'run', '--rm', image, 'a3', 'sh', '-c', 'echo up; sleep 1; exit 3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BERTH_FIFO_DIR: fifoDir },
    });
    let out = '';
    cli.stdout!.on('data', (d) => (out += d));
    const gone = new Promise((r) => cli.once('exit', r));
    for (let i = 0; i < 200 && !out.includes('up'); i++) await sleep(50);
    expect(out).toBe('up\n');
    cli.kill('SIGKILL');
    await gone;
    // still there while the process runs
    expect(containers()).toEqual(['a3']);
    expect(await eventually(nothingLeft, isEmpty)).toEqual(empty);
  });

  it('run -d --rm: a process that exits while berthd is down is removed when it starts again', async () => {
    expect(berth(['run', '-d', '--rm', '--null-io', image, 'a4', 'sh', '-c', 'sleep 1'])).toMatchObject({ code: 0 });
    expect(berth(['run', '-d', '--rm', '--null-io', image, 'a5', 'sh', '-c', 'sleep 4'])).toMatchObject({ code: 0 });
    await b.kill();
    await sleep(2000);
    await b.restart();
    // a4 exited while berthd was away, a5 exits after the restart
    expect(await eventually(nothingLeft, isEmpty, 15_000)).toEqual(empty);
  });

  it('builds the spec the CLI builds for containers create, as an ordinary container ctr can drive', () => {
    const flags = [
      '--cpu-shares',
      '1024',
      '--env',
      'A=1',
      '--cwd',
      '/tmp',
      '-u',
      'berth',
      '--hostname',
      'h1',
      '--memory-limit',
      '67108864',
      '--cap-add',
      'NET_ADMIN',
      '--label',
      'k=v',
    ];
    expect(berth(['containers', 'create', ...flags, image, 'b1', 'sleep', '30'])).toMatchObject({ code: 0 });
    expect(berth(['run', '-d', '--null-io', ...flags, image, 'b2', 'sleep', '30'])).toMatchObject({ code: 0 });
    const info = (id: string) => JSON.parse(berth(['containers', 'info', id]).stdout) as { Labels: Record<string, string>; Spec: unknown };
    const [one, two] = [info('b1'), info('b2')];
    const specOf = (id: string, spec: unknown) => JSON.stringify(spec).replaceAll(id, 'ID');
    expect(specOf('b2', two.Spec)).toBe(specOf('b1', one.Spec));
    // berth run also asks for the default network (containers create makes no task, so no network)
    const { 'io.berth/network': network, ...labels } = two.Labels;
    expect(labels).toEqual(one.Labels);
    expect(JSON.parse(network!)).toEqual({ mode: 'bridge', networks: ['bridge'], ports: [] });
    expect(b.ctr(['tasks', 'ls']).stdout).toMatch(/^b2\s+\d+\s+RUNNING$/m);
    expect(b.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'b2']).code).toBe(0);
    expect(b.ctr(['tasks', 'rm', 'b2']).code).toBe(0);
    expect(b.ctr(['containers', 'rm', 'b1', 'b2']).code).toBe(0);
  });

  it('refuses bad requests with the right status and leaves nothing behind', async () => {
    const c = b.client();
    const run = async (req: Partial<RunRequest>) => {
      for await (const e of c.run.Run({ image, container_id: 'c1', stdin: '', stdout: '', stderr: '', ...req }, { deadline: false })) return e;
    };
    const cases: Array<[Partial<RunRequest>, string, RegExp]> = [
      [{ image: 'docker.io/library/nothing:here' }, 'NotFound', /nothing:here/],
      [{ image: 'nothing:here' }, 'NotFound', /^image "nothing:here" \(docker.io\/library\/nothing:here\) not found: pull it first$/],
      [{ container_id: 'a/b' }, 'InvalidArgument', /identifier/],
      [{ container_id: '' }, 'InvalidArgument', /container_id is required/],
      [{ spec: { user: 'nobody-here' } }, 'InvalidArgument', /no user "nobody-here"/],
      [{ spec: { mounts: [{ destination: 'rel', type: 'bind', source: '/tmp', options: ['rbind'] }] } }, 'InvalidArgument', /absolute/],
      [{ spec: { cap_add: ['CAP_NOT_A_THING'] } }, 'InvalidArgument', /unknown capability/],
      [{ snapshotter: 'zfs' }, 'InvalidArgument', /snapshotter "zfs"/],
      [{ platform: 'not a platform' }, 'InvalidArgument', /platform/],
      [{ stdout: '/no/such/dir/out' }, 'InvalidArgument', /\/no\/such\/dir\/out/],
    ];
    // an image whose config cannot make a spec: the image is unusable, not the request
    const bad = await loadRunImage(b, { image: buildRunImage({ name: 'docker.io/library/busybox:bad-env', config: { Env: 'PATH=/bin' } }) });
    cases.push([{ image: bad }, 'FailedPrecondition', /config Env is not a list of strings/]);
    for (const [req, code, message] of cases) {
      const err = await failure(run(req));
      expect(err.code, JSON.stringify(req)).toMatch(new RegExp(`^(${code})$`));
      expect(err.message, JSON.stringify(req)).toMatch(message);
    }
    expect(await eventually(nothingLeft, isEmpty)).toEqual(empty);
    expect(
      await eventually(
        () => lines(['leases', 'ls', '-q']),
        (l) => l.length === 0,
      ),
    ).toEqual([]);
    // nor the monitors berthd had started for the runs that then failed (gone before the answer):
    // only its one spare
    expect(waitingMonitorsOf(b.pid()).length).toBeLessThanOrEqual(1);
  });
});

/** berthd's children that are berth-monitors still waiting for their arguments (`--wait`). */
function waitingMonitorsOf(daemon: number): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === daemon && readFileSync(`/proc/${p}/cmdline`, 'utf8').endsWith('berth-monitor\0--wait\0')) pids.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
