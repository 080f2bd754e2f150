import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Berthd, berthdBin, berthdWithRunImage, startBerthd } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * A berthd owns its root, its state dir and its socket path: a second one that shares any of
 * them is refused before it reads or removes anything, so the first one's containers, files and
 * tasks are untouched. The locks die with their holder, so a crashed berthd starts again.
 */
describe('one berthd per root, state dir and socket', () => {
  let a: Berthd;
  let image: string;
  const ns = 'exclusive';
  const berth = (args: string[]) => a.berth(['-n', ns, ...args]);
  const bundle = () => join(a.state, 'io.containerd.runtime.v2.task', ns, 'sleeper');
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  let init = 0;

  berthdWithRunImage(ns, (d, img) => {
    a = d;
    image = img;
  });

  const expectUntouched = () => {
    expect(berth(['tasks', 'ls']).stdout).toMatch(new RegExp(`^sleeper\\s+${init}\\s+RUNNING$`, 'm'));
    expect(existsSync(join(bundle(), 'config.json'))).toBe(true);
    expect(alive(init)).toBe(true);
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('sleeper\n');
  };

  it('starts a container for the other daemons to leave alone', () => {
    const r = berth(['run', '-d', '--null-io', image, 'sleeper', 'sleep', '1000']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    init = Number(readFileSync(join(bundle(), 'pid'), 'utf8'));
    expectUntouched();
  }, 60_000);

  for (const shared of ['root', 'state', 'socket'] as const) {
    it(`refuses a second berthd that shares only its ${shared}, naming it and the holder`, () => {
      const other = join(a.dir, `other-${shared}`);
      mkdirSync(other, { recursive: true });
      const paths = {
        root: shared === 'root' ? a.root : join(other, 'root'),
        state: shared === 'state' ? a.state : join(other, 'state'),
        socket: shared === 'socket' ? a.address : join(other, 'berth.sock'),
      };
      const r = spawnSync(berthdBin, ['--root', paths.root, '--state', paths.state, '--address', paths.socket, '--log-level', 'debug'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `berthd: another berthd (pid ${a.pid()}) is already running on ${shared} ${paths[shared]} (it holds ${shared === 'socket' ? `${a.address}.lock` : join(paths[shared], 'berthd.lock')})\n`,
      );
      expectUntouched();
    }, 30_000);
  }

  it('starts again on the same paths after it was killed with SIGKILL, and still collects exits', async () => {
    await a.kill();
    await a.restart();
    expectUntouched();
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'sleeper']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'sleeper']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'sleeper']).code).toBe(0);
    expect(existsSync(bundle())).toBe(false);
  }, 60_000);

  it('at start-up, leaves alone a bundle whose shim runs even when it has no container record', async () => {
    expect(berth(['tasks', 'start', '-d', '--null-io', 'sleeper']).code).toBe(0);
    init = Number(readFileSync(join(bundle(), 'pid'), 'utf8'));
    expectUntouched();
    // after a crash, a berthd started on the wrong root (and its own socket) sees the state dir
    // of the first one, whose containers it has no record of
    await a.kill();
    const wrong = await startBerthd(['--state', a.state]);
    try {
      expect(wrong.berth(['-n', ns, 'tasks', 'ls']).stdout).not.toContain('sleeper');
      expect(wrong.output()).toMatch(/leaving alone a task bundle .*that has no container record/);
    } finally {
      await wrong.cleanup();
    }
    await sleep(100);
    expect(alive(init)).toBe(true);
    await a.restart();
    expectUntouched();
  }, 60_000);
});
