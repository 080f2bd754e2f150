import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, startBerthd } from './support/harness.ts';
import { describeAsRoot } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';

/** Docker's verbs for containers beside ctr's groups: ps, stop, kill, wait, rm, inspect, exec. */
describeAsRoot('Docker-style verbs', () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  const berth = (args: string[]) => b.berth(args, { env: { BERTH_FIFO_DIR: fifoDir } });
  const ids = (args: string[]) => berth(args).stdout.split('\n').filter(Boolean).sort();
  // pid 1 ignores a SIGTERM it has no handler for: only SIGKILL ends `sleep`
  const runSleeper = (id: string) => expect(berth(['run', '-d', image, id, 'sleep', '1000'])).toMatchObject({ code: 0, stderr: '' });

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-verbs-fifo-'));
  });
  afterAll(async () => {
    if (b) {
      for (const id of ids(['ps', '-aq'])) berth(['rm', '-f', id]);
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
  });

  it('ps lists running containers, ps -a also stopped ones with their exit status, as docker ps does', () => {
    runSleeper('v-up');
    // a detached container keeps its stopped task, and so its exit status
    expect(berth(['run', '-d', image, 'v-done', 'sh', '-c', 'exit 4']).code).toBe(0);
    expect(berth(['wait', 'v-done'])).toMatchObject({ code: 4, stdout: '4\n' });
    expect(ids(['ps', '-q'])).toEqual(['v-up']);
    expect(ids(['ps', '-a', '-q'])).toEqual(['v-done', 'v-up']);
    const table = berth(['ps', '-a']).stdout.split('\n');
    expect(table[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS$/);
    expect(table.find((l) => l.startsWith('v-up '))).toMatch(/ "sleep 1000" +(Less than a second|\d+ seconds?) ago +Up( |$)/);
    expect(table.find((l) => l.startsWith('v-done '))).toMatch(/ "sh -c exit 4" .* Exited \(4\) /);
    const json = JSON.parse(berth(['ps', '-a', '--format', 'json']).stdout) as Array<{ id: string; status: string; exit_status?: number; command: string[] }>;
    expect(json.find((c) => c.id === 'v-done')).toMatchObject({ status: 'stopped', exit_status: 4, command: ['sh', '-c', 'exit 4'] });
    expect(json.find((c) => c.id === 'v-up')).toMatchObject({ status: 'running', command: ['sleep', '1000'] });
  });

  it('ps -a shows how a container whose task a foreground run deleted ended (from berthd’s event journal)', () => {
    expect(berth(['run', '--net', 'none', image, 'v-fg', 'sh', '-c', 'exit 9']).code).toBe(9);
    expect(berth(['tasks', 'ls', '-q']).stdout.split('\n')).not.toContain('v-fg');
    expect(berth(['ps', '-a']).stdout).toMatch(/^v-fg .* Exited \(9\) (Less than a second|\d+ seconds?) ago/m);
    expect(JSON.parse(berth(['ps', '-a', '--format', 'json']).stdout).find((c: { id: string }) => c.id === 'v-fg')).toMatchObject({
      status: 'stopped',
      exit_status: 9,
    });
    // the same id made again: the old container's exit is not the new one's
    expect(berth(['rm', 'v-fg']).code).toBe(0);
    expect(berth(['containers', 'create', image, 'v-fg', 'true']).code).toBe(0);
    expect(berth(['ps', '-a']).stdout).toMatch(/^v-fg .* Created/m);
    expect(berth(['rm', 'v-fg']).code).toBe(0);
  });

  it('ps shows published ports as docker ps does', () => {
    expect(berth(['run', '-d', '-p', '127.0.0.1:18080:80', '-p', '18081:81/udp', image, 'v-ports', 'sleep', '1000']).code).toBe(0);
    expect(berth(['ps']).stdout).toMatch(/^v-ports .* Up.* {3}127\.0\.0\.1:18080->80\/tcp, 0\.0\.0\.0:18081->81\/udp$/m);
    expect(JSON.parse(berth(['ps', '--format', 'json']).stdout).find((c: { id: string }) => c.id === 'v-ports').ports).toEqual([
      '127.0.0.1:18080->80/tcp',
      '0.0.0.0:18081->81/udp',
    ]);
    expect(berth(['rm', '-f', 'v-ports']).code).toBe(0);
  });

  it('run takes Docker’s short flags and units: -e, -w, -i, -v HOST:CTR[:ro], -m 64m', () => {
    const host = mkdtempSync(join(tmpdir(), 'berth-verbs-v-'));
    try {
      writeFileSync(join(host, 'f'), 'from the host\n');
      const r = berth([
        'run',
        '--rm',
        '--net',
        'none',
        '-i',
        '-e',
        'GREETING=hi',
        '-w',
        '/tmp',
        '-v',
        `${host}:/in:ro`,
        image,
        'v-flags',
        'sh',
        '-c',
        'echo $GREETING; pwd; cat /in/f; touch /in/x 2>/dev/null || echo read-only',
      ]);
      expect(r).toMatchObject({ code: 0, stdout: 'hi\n/tmp\nfrom the host\nread-only\n', stderr: '' });
      expect(berth(['containers', 'create', '-m', '64m', '--cpus', '0.5', image, 'v-limits', 'true']).code).toBe(0);
      const spec = JSON.parse(berth(['containers', 'info', '--spec', 'v-limits']).stdout) as {
        linux: { resources: { memory: { limit: number }; cpu: { quota: number } } };
      };
      expect(spec.linux.resources).toMatchObject({ memory: { limit: 64 * 1024 * 1024 }, cpu: { quota: 50000 } });
      expect(berth(['rm', 'v-limits']).code).toBe(0);
      expect(berth(['run', '--rm', '-m', '64x', image, 'v-bad', 'true'])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('invalid memory limit "64x"'),
      });
      expect(berth(['run', '--rm', '-v', 'data:in', image, 'v-bad', 'true'])).toMatchObject({
        code: 1,
        stderr: 'berth: invalid volume "data:in": the container path must be absolute\n',
      });
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
  });

  it('exec needs no exec id, takes -it and -e, and returns the process’s exit status', () => {
    expect(berth(['exec', '-e', 'GREETING=hi', 'v-up', 'sh', '-c', 'echo $GREETING'])).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect(berth(['exec', '-i', 'v-up', 'sh', '-c', 'exit 5']).code).toBe(5);
  });

  it('inspect prints a JSON array with the task’s state; an unknown id fails after printing the others', () => {
    const r = berth(['inspect', 'v-up', 'nosuch']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: container "nosuch" .*not found\n$/);
    const [c] = JSON.parse(r.stdout) as Array<{ ID: string; State: { Status: string; Running: boolean; Pid: number } }>;
    expect(c).toMatchObject({ ID: 'v-up', State: { Status: 'running', Running: true } });
    expect(c!.State.Pid).toBeGreaterThan(0);
  });

  it('stop sends the stop signal, then SIGKILL after -t seconds; wait prints the status and exits with it', () => {
    const started = Date.now();
    expect(berth(['stop', '-t', '1', 'v-up'])).toMatchObject({ code: 0, stdout: 'v-up\n', stderr: '' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(8000);
    expect(berth(['wait', 'v-up'])).toMatchObject({ code: 137, stdout: '137\n' });
    expect(berth(['wait', 'v-done'])).toMatchObject({ code: 4, stdout: '4\n' });
    // a stopped container stays, with its status
    expect(berth(['ps', '-a']).stdout).toMatch(/^v-up .* Exited \(137\) /m);
  });

  it('start runs a stopped container again (its output in its log), restart stops and starts it', () => {
    expect(berth(['run', '-d', '--net', 'none', image, 'v-again', 'sh', '-c', 'echo run at $(date +%s%N); exec sleep 1000']).code).toBe(0);
    expect(berth(['stop', '-t', '0', 'v-again'])).toMatchObject({ code: 0, stdout: 'v-again\n' });
    expect(berth(['ps', '-a']).stdout).toMatch(/^v-again .* Exited \(137\) /m);
    expect(berth(['start', 'v-again'])).toMatchObject({ code: 0, stdout: 'v-again\n', stderr: '' });
    expect(berth(['ps']).stdout).toMatch(/^v-again .* Up/m);
    const pid = () => (JSON.parse(berth(['inspect', 'v-again']).stdout) as Array<{ State: { Pid: number } }>)[0]!.State.Pid;
    const before = pid();
    expect(berth(['restart', '-t', '0', 'v-again'])).toMatchObject({ code: 0, stdout: 'v-again\n', stderr: '' });
    expect(pid()).not.toBe(before);
    // one line in the log per run, all three kept
    expect(
      berth(['logs', 'v-again'])
        .stdout.split('\n')
        .filter((l) => l.startsWith('run at ')),
    ).toHaveLength(3);
    // start on a running container changes nothing
    expect(berth(['start', 'v-again'])).toMatchObject({ code: 0, stdout: 'v-again\n' });
    expect(berth(['rm', '-f', 'v-again']).code).toBe(0);
  });

  it('Docker’s words for images: images lists, tag and rmi', () => {
    expect(berth(['tag', image, 'docker.io/library/v-tagged:1'])).toMatchObject({ code: 0 });
    expect(berth(['images', '-q']).stdout.split('\n')).toContain('docker.io/library/v-tagged:1');
    expect(berth(['rmi', 'docker.io/library/v-tagged:1'])).toMatchObject({ code: 0, stdout: 'docker.io/library/v-tagged:1\n' });
    expect(berth(['images', '-q']).stdout.split('\n')).not.toContain('docker.io/library/v-tagged:1');
    expect(berth(['--help']).stdout).toContain(
      "Docker's words for images work too: pull = images pull, push = images push, rmi = images rm, tag = images tag.",
    );
  });

  it('kill sends SIGKILL by default; a container that is not running is an error', () => {
    runSleeper('v-kill');
    expect(berth(['kill', 'v-kill'])).toMatchObject({ code: 0, stdout: 'v-kill\n' });
    expect(berth(['wait', 'v-kill']).code).toBe(137);
    expect(berth(['kill', 'v-kill'])).toMatchObject({ code: 1, stderr: 'berth: container v-kill is not running: stopped\n' });
  });

  it('rm refuses a running container, rm -f kills and removes it; nothing of them is left', () => {
    runSleeper('v-rm');
    expect(berth(['rm', 'v-rm'])).toMatchObject({ code: 1, stderr: 'berth: container v-rm is running: stop it first, or remove it with -f\n' });
    expect(berth(['rm', '-f', 'v-rm', 'v-kill', 'v-up', 'v-done'])).toMatchObject({ code: 0, stdout: 'v-rm\nv-kill\nv-up\nv-done\n' });
    expect(ids(['ps', '-aq'])).toEqual([]);
    expect(ids(['tasks', 'ls', '-q'])).toEqual([]);
    expect(berth(['snapshots', 'ls']).stdout).not.toMatch(/\bActive\b/);
  });

  it('containers prune removes what does not run (asking first), images prune what no container uses', () => {
    runSleeper('p-up');
    for (const id of ['p-done1', 'p-done2']) expect(berth(['run', '-d', '--net', 'none', image, id, 'true']).code).toBe(0);
    expect(berth(['wait', 'p-done1', 'p-done2']).code).toBe(0);
    // no yes, no prune
    const asked = berth(['containers', 'prune']);
    expect(asked).toMatchObject({ code: 0, stdout: '' });
    expect(asked.stderr).toMatch(/^WARNING! This will remove all stopped containers\.\nAre you sure you want to continue\? \[y\/N\] /);
    expect(ids(['ps', '-aq'])).toEqual(['p-done1', 'p-done2', 'p-up']);
    const pruned = berth(['containers', 'prune', '-f']);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted Containers:\n(p-done1\np-done2|p-done2\np-done1)\n\nTotal reclaimed space: [\d.]+ (B|KiB|MiB)\n$/);
    expect(ids(['ps', '-aq'])).toEqual(['p-up']);

    const digest = JSON.parse(berth(['images', 'ls', '--format', 'json']).stdout).find((i: { name: string }) => i.name === image).target.digest;
    const dangling = `docker.io/library/dangle@${digest}`;
    expect(berth(['images', 'tag', image, 'docker.io/library/spare:1', dangling]).code).toBe(0);
    expect(berth(['images', 'prune', '-f'])).toMatchObject({ code: 0, stdout: `Deleted Images:\n${dangling}\n\n` });
    // -a: every image no container uses; p-up uses the run image
    expect(berth(['system', 'prune', '-a', '-f']).stdout).toMatch(/^Deleted Images:\ndocker\.io\/library\/spare:1\n\nTotal reclaimed space: /);
    expect(ids(['images', 'ls', '-q'])).toEqual([image]);
    expect(berth(['rm', '-f', 'p-up']).code).toBe(0);
  });
});
