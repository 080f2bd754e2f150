import { CommanderError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { program } from './cli.ts';
import { parseRunCommandLine, type RunCommandLine } from './fast-run.ts';

/** What commander makes of a command line: the run action's arguments, or the usage error. */
async function commanderParse(argv: string[]): Promise<RunCommandLine | 'usage error' | 'other command'> {
  const { program: cli } = await program('run');
  const quiet = { writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined };
  cli.configureOutput(quiet);
  let got: RunCommandLine | undefined;
  for (const cmd of cli.commands) {
    cmd.configureOutput(quiet);
    cmd.action((image: string, id: string, command: string[], flags: RunCommandLine['flags']) => {
      got = { globals: cli.opts(), image, id, command, flags: { ...flags } };
    });
  }
  try {
    await cli.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return 'usage error';
    throw err;
  }
  return got ?? 'other command';
}

/** A small deterministic generator, so that a failure names a command line that fails again. */
function* lines(count: number): Generator<string[]> {
  let seed = 18;
  const pick = <T>(xs: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return xs[seed % xs.length]!;
  };
  const globals = [
    [],
    ['--debug'],
    ['-a', '/x.sock'],
    ['--address=/y.sock'],
    ['-n', 'ns1'],
    ['--namespace', 'ns2'],
    ['--timeout', '5s'],
    ['--timeout=0'],
    ['--timeout', 'soon'],
    ['-h'],
    ['-v'],
    ['-x'],
    ['-n'],
  ];
  const flags = [
    ['--rm'],
    ['-d'],
    ['--detach'],
    ['-t'],
    ['--tty'],
    ['--env', 'A=1'],
    ['--env=B=2'],
    ['--mount', 'type=bind,src=/a,dst=/b'],
    ['--cpus', '0.5'],
    ['--cpus', '-1'],
    ['--cpus=abc'],
    ['--cpu-shares', '0'],
    ['--memory-limit', '1048576'],
    ['--pids-limit', 'x'],
    ['-u', 'root'],
    ['-uroot'],
    ['--user', '1000:1000'],
    ['--net-host'],
    ['--read-only'],
    ['--privileged'],
    ['--cap-add', 'NET_ADMIN'],
    ['--cap-drop', 'CHOWN'],
    ['--label', 'a=b'],
    ['--annotation', 'k=v'],
    ['--runtime', 'io.containerd.runc.v2'],
    ['--runc-binary', '/usr/bin/crun'],
    ['--snapshotter', 'native'],
    ['--platform', 'linux/amd64'],
    ['--log-uri', 'file:///tmp/x'],
    ['--null-io'],
    ['--shim-group', 'g'],
    ['--fifo-dir', '/tmp/f'],
    ['--seccomp-profile', '/p.json'],
    ['--security-opt', 'seccomp=unconfined'],
    ['--env-file', '/e'],
    ['--cwd', '/w'],
    ['--hostname', 'h'],
    ['--unknown'],
    ['-dt'],
    ['--'],
    ['--tty=1'],
    ['-h'],
    ['--help'],
    ['--user'],
    ['--env', '-e'],
  ];
  const positionals = [
    [],
    ['img'],
    ['img', 'id'],
    ['img', 'id', 'true'],
    ['img', 'id', 'sh', '-c', 'echo --rm'],
    ['img', '--rm', 'id'],
    ['img', 'id', '--', 'x'],
  ];
  for (let n = 0; n < count; n++) {
    const line = ['node', 'berth', ...pick(globals), ...pick(globals)];
    line.push(pick(['run', 'run', 'run', 'version', 'images']));
    const k = pick([0, 1, 2, 3, 5]);
    for (let i = 0; i < k; i++) line.push(...pick(flags));
    line.push(...pick(positionals));
    yield line;
  }
}

describe('berth run without commander (fast-run.ts)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('parses a command line as commander does, or leaves it to commander', async () => {
    let fast = 0;
    let total = 0;
    for (const env of [{}, { BERTH_ADDRESS: '/env.sock', BERTH_NAMESPACE: 'envns', BERTH_SNAPSHOTTER: 'native', BERTH_FIFO_DIR: '/envfifo' }]) {
      for (const key of ['BERTH_ADDRESS', 'BERTH_NAMESPACE', 'BERTH_SNAPSHOTTER', 'BERTH_FIFO_DIR']) delete process.env[key];
      Object.assign(process.env, env);
      for (const argv of lines(400)) {
        const ours = parseRunCommandLine(argv);
        total++;
        if (!ours) continue;
        fast++;
        expect(await commanderParse(argv), argv.join(' ')).toEqual(ours);
      }
    }
    // the generator makes every kind of line: many are for the fast path, many are not
    expect(fast).toBeGreaterThan(total / 10);
    expect(fast).toBeLessThan(total / 2);
  });

  it('takes the usual command lines', () => {
    for (const line of [
      ['run', '--rm', 'busybox', 'c1', 'true'],
      ['-n', 'ns', 'run', '-d', '--null-io', 'busybox', 'c1', 'sleep', '100'],
      ['--address', '/run/x.sock', 'run', '-t', '--rm', '--env', 'A=1', '--env', 'B=2', 'busybox', 'c1', 'sh', '-c', 'echo $A'],
    ]) {
      expect(parseRunCommandLine(['node', 'berth', ...line]), line.join(' ')).toBeDefined();
    }
    const line = parseRunCommandLine(['node', 'berth', 'run', '--rm', '--cpus=0.5', '--env', 'A=1', '--env', 'B=2', 'busybox', 'c1', 'ls', '-l']);
    expect(line).toMatchObject({
      image: 'busybox',
      id: 'c1',
      command: ['ls', '-l'],
      flags: { rm: true, cpus: 0.5, env: ['A=1', 'B=2'], cpuShares: 1024, mount: [], runtime: 'io.containerd.runc.v2' },
    });
  });

  it('leaves help, unknown flags, bad values and other commands to commander', () => {
    for (const line of [
      ['run', '--help'],
      ['run', '-h'],
      ['--help', 'run'],
      ['run', '--rm', 'busybox'],
      ['run', '--nope', 'busybox', 'c1'],
      ['run', '--cpus', 'lots', 'busybox', 'c1'],
      ['run', '-dt', 'busybox', 'c1'],
      ['run', '--', 'busybox', 'c1'],
      ['run', '-n', 'ns', 'busybox', 'c1'],
      ['--timeout', 'soon', 'run', 'busybox', 'c1'],
      ['images', 'ls', 'run'],
    ]) {
      expect(parseRunCommandLine(['node', 'berth', ...line]), line.join(' ')).toBeUndefined();
    }
  });
});
