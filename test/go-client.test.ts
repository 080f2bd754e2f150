import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../core/registry/client.ts';
import { parseReference } from '../core/registry/reference.ts';
import { startBerthd, startContainerd } from './support/harness.ts';
import { registryBinary, startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage, pushRunImage } from './support/run-image.ts';
import { sleep, startTogether } from './support/util.ts';

// containerd's Go client as Debian packages it (golang-github-containerd-containerd-dev), built
// offline in GOPATH mode against Debian's Go sources
const gopath = '/usr/share/gocode';
const clientSource = join(gopath, 'src/github.com/containerd/containerd/client.go');
const programDir = join(import.meta.dirname, 'goclient');

/**
 * Builds test/goclient once per version of its source and of Go, into a directory under the
 * system's temporary directory that is kept between runs (with Go's build cache): a first build
 * compiles the client library and its dependencies, about a minute on two busy cores.
 */
async function buildProgram(): Promise<string> {
  const go = await promisify(execFile)('go', ['version'], { encoding: 'utf8' });
  const key = createHash('sha256')
    .update(go.stdout)
    .update(readFileSync(join(programDir, 'main.go')))
    .digest('hex')
    .slice(0, 16);
  const cache = join(tmpdir(), 'berth-goclient-build');
  const bin = join(cache, `goclient-${key}`);
  if (existsSync(bin)) return bin;
  mkdirSync(cache, { recursive: true });
  // the binaries of earlier versions of the source
  for (const f of readdirSync(cache)) if (/^goclient-[0-9a-f]{16}$/.test(f)) rmSync(join(cache, f), { force: true });
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOFLAGS: '', GOPROXY: 'off', GOCACHE: join(cache, 'gocache') };
  const built = `${bin}.${process.pid}.tmp`;
  await promisify(execFile)('go', ['build', '-o', built, '.'], { cwd: programDir, env, timeout: 600_000 });
  renameSync(built, bin);
  return bin;
}

/** The key=value lines the program printed (string values quoted Go-style, ASCII here). */
function facts(output: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const at = line.indexOf('=');
    if (at < 0) continue;
    const value = line.slice(at + 1);
    out[line.slice(0, at)] = value.startsWith('"') ? JSON.parse(value) : value;
  }
  return out;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

/** What the program needs of its daemon: an address, and being killed and started again. */
interface Backend {
  address: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * containerd's Go client library drives berthd as it drives containerd, also through a SIGKILL
 * and restart of berthd while its tasks run: what programs that embed containerd rely on. The
 * same program runs against Debian's containerd, so that what containerd fails too is known.
 */
describeAsRoot(
  'the containerd Go client (containerd 1.6)',
  [
    installed('go'),
    { ok: existsSync(clientSource), reason: `${clientSource} is missing: install golang-github-containerd-containerd-dev` },
    { ok: existsSync(registryBinary), reason: `${registryBinary} is missing: install docker-registry` },
  ],
  () => {
    let program: string;
    let registry: TestRegistry;
    const reg = new RegistryClient();
    const image = buildRunImage();
    let ref: string;

    beforeAll(async () => {
      [program, [registry]] = await Promise.all([buildProgram(), startTogether([startRegistry()])]);
      ref = `${registry.host}/goclient/busybox:1`;
      await pushRunImage(reg, parseReference(ref), image);
    }, 600_000);

    afterAll(async () => {
      reg.close();
      await registry?.stop();
    });

    describe.each([
      ['berthd', (): Promise<Backend> => startBerthd()],
      ['containerd', (): Promise<Backend> => startContainerd()],
    ])('against %s', (name, start) => {
      let backend: Backend | undefined;
      let child: ChildProcessWithoutNullStreams | undefined;
      let dir: string | undefined;

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'berth-goclient-fifo-'));
        backend = await start();
      });

      afterAll(async () => {
        child?.kill('SIGKILL');
        await backend?.cleanup();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('pulls with unpack, runs a task with stdio to its exit code and event; after the daemon is SIGKILLed and restarted the same client finds its tasks, the exit that happened meanwhile, and kills the one still running', async () => {
        const proc = spawn(program, ['--address', backend!.address, '--namespace', 'goclient', '--image', ref, '--fifo-dir', join(dir!, 'fifo')]);
        child = proc;
        let output = '';
        proc.stdout.on('data', (d) => (output += d));
        proc.stderr.on('data', (d) => (output += d));
        const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
        const printed = async (line: string) => {
          for (const end = Date.now() + 60_000; !output.includes(`${line}\n`) && proc.exitCode === null && Date.now() < end; ) await sleep(50);
          expect(output, 'the program did not get there').toContain(`${line}\n`);
        };

        await printed('phase=1');
        const before = facts(output);
        expect(before).toMatchObject({
          serving: 'true',
          'image.name': ref,
          'image.digest': image.manifest.digest,
          'image.unpacked': 'true',
          'hello.wait': '7',
          'hello.io-done': 'true',
          'hello.stdout': 'out: piped in\n',
          'hello.stderr': 'err: from-image\n',
          'hello.delete': '7',
          'hello.events': '[7]',
          'stays.started': 'true',
        });
        expect(before['server.uuid']).toMatch(/^[0-9a-f-]{36}$/);

        // the daemon dies while "stays" runs and "quits" is about to exit; it is down when "quits" does
        const [staysPid, quitsPid] = [Number(before['stays.pid']), Number(before['quits.pid'])];
        await backend!.kill();
        for (const end = Date.now() + 15_000; alive(quitsPid) && Date.now() < end; ) await sleep(100);
        expect(alive(quitsPid), 'quits exits during the outage').toBe(false);
        await sleep(1000);
        await backend!.restart();
        proc.stdin.write('restarted\n');

        expect(await exited, output).toBe(0);
        const after = facts(output);
        // containerd publishes the exit of "quits" when nobody is subscribed yet (see docker.test.ts)
        if (name === 'containerd' && after['quits.events'] === '[]') {
          console.warn('known: containerd lost the exit event of a task that exited while it was down');
          after['quits.events'] = '[5]';
          after['events.after'] = after['events.after']!.replace(/^\[\]/, '[5]');
        }
        expect(after).toMatchObject({
          'events.broken': 'true',
          'restarted.serving': 'true',
          'restarted.server.uuid': before['server.uuid'],
          'quits.status': 'stopped 5',
          'quits.wait': '5',
          'quits.events': '[5]',
          'quits.delete': '5',
          'stays.status': 'running',
          'stays.pid-after': String(staysPid),
          'stays.echo': 'true',
          'stays.wait': '137',
          'stays.io-done': 'true',
          'stays.events': '[137]',
          'stays.delete': '137',
          'events.after': '[5] [137]',
          'containers.left': '0',
          phase: '2',
        });
        expect(alive(staysPid)).toBe(false);
      }, 180_000);
    });
  },
);
