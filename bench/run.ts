// Side-by-side benchmarks: containerd and berthd on the same loop-mounted journaled ext4,
// driven by the same client (proto/client.ts), rounds alternating between the two daemons.
// Usage: npm run bench -- <unary|ingest|...|all> [--rounds N] [options]; see bench/README.md.

import { mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup } from './cleanup.ts';
import type { BenchOptions, Scenario } from './scenario.ts';
import { density } from './scenarios/density.ts';
import { ingest } from './scenarios/ingest.ts';
import { pod } from './scenarios/pod.ts';
import { pull } from './scenarios/pull.ts';
import { run } from './scenarios/run.ts';
import { unary } from './scenarios/unary.ts';
import { unpack } from './scenarios/unpack.ts';
import { checkPrerequisites, type Daemon, setup } from './setup.ts';
import { Results } from './stats.ts';

const scenarios: Scenario[] = [unary, ingest, unpack, pull, run, density, pod];

const usage = `usage: npm run bench -- <${scenarios.map((s) => s.name).join('|')}|all> [options]

  --rounds N         rounds per scenario, each runs containerd then berthd (default 5)
  --calls N          unary: measured calls per method, sequential and in flight (default 20000)
  --warmup N         unary: calls before measuring (default 2000)
  --inflight N       unary: calls in flight for throughput (default 16)
  --max-seconds S    unary: cap on each measurement (default 15)
  --ingest-mb N      ingest: blob size in MB (default 100)
  --ingest-runs N    ingest: blobs per round and daemon (default 3)
  --image-dir DIR    where the scratch filesystem's sparse file goes (default /var/tmp)
  --fs-gib N         size of the scratch filesystem (default 4)
  --berthd-prof DIR  run berthd with --cpu-prof, profiles written to DIR on exit
  --berthd-node-options OPTS  extra Node options for berthd (NODE_OPTIONS)
  --containers N,M   density: how many containers, one measurement each (default 20,100)
  --crun             run: containers on crun instead of runc (on a hybrid cgroup host both
                     daemons then run in a mount namespace without the cgroup2 mount)
  --run-memory       run: also 50 sleeping containers' memory, one shim each and grouped
  --crictl PATH      pod: also time each pod's start through this crictl (runp, create, start:
                     three processes, as a user types them)
  --markdown         also print the results as a markdown table

Scenarios:
${scenarios.map((s) => `  ${s.name.padEnd(8)} ${s.summary}`).join('\n')}`;

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rounds: { type: 'string', default: '5' },
      calls: { type: 'string', default: '20000' },
      warmup: { type: 'string', default: '2000' },
      inflight: { type: 'string', default: '16' },
      'max-seconds': { type: 'string', default: '15' },
      'ingest-mb': { type: 'string', default: '100' },
      'ingest-runs': { type: 'string', default: '3' },
      'image-dir': { type: 'string', default: '/var/tmp' },
      'fs-gib': { type: 'string', default: '4' },
      'berthd-prof': { type: 'string' },
      'berthd-node-options': { type: 'string' },
      containers: { type: 'string', default: '20,100' },
      crun: { type: 'boolean', default: false },
      'run-memory': { type: 'boolean', default: false },
      crictl: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const which = positionals[0] ?? 'all';
  // not pod in all: containerd's CRI plugin would be on for every scenario (its memory in density's figures)
  const chosen = which === 'all' ? scenarios.filter((s) => !s.needsCri) : scenarios.filter((s) => s.name === which);
  if (positionals.length > 1 || chosen.length === 0) throw new Error(`unknown scenario ${JSON.stringify(positionals.join(' '))}\n${usage}`);
  const int = (name: keyof typeof values, min = 1) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const opts: BenchOptions = {
    rounds: int('rounds'),
    calls: int('calls'),
    warmup: int('warmup', 0),
    inflight: int('inflight'),
    maxSeconds: int('max-seconds'),
    ingestMB: int('ingest-mb'),
    ingestRuns: int('ingest-runs'),
    ociRuntime: values.crun ? 'crun' : 'runc',
    runMemory: values['run-memory']!,
    crictl: values.crictl,
    containers: values.containers!.split(',').map((text) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--containers must be a list of integers >= 1, e.g. 20,100`);
      return n;
    }),
  };
  return {
    chosen,
    opts,
    imageDir: values['image-dir']!,
    sizeGiB: int('fs-gib'),
    prof: values['berthd-prof'],
    nodeOptions: values['berthd-node-options'],
    markdown: values.markdown!,
  };
}

// The calls themselves carry no deadline; a daemon that stops answering fails the round.
const roundLimitMs = 10 * 60_000;

function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 60_000} min`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** Other work on the machine skews both columns (it is shared, with 2 cores): say so. */
function warnIfBusy(when: string) {
  const [one, five] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  const load = when === 'at the start' ? one : five;
  const own = when === 'at the start' ? 0 : 1.5; // the bench itself keeps ~1.5 cores busy
  if (load > own + 0.5) console.log(`\nwarning: load average ${load} ${when} (${cpus().length} cores): other work is running, figures will be noisy`);
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`Node ${process.versions.node} is too old: run through npm (npm run bench), which uses the pinned Node 24`);
  const { chosen, opts, imageDir, sizeGiB, prof, nodeOptions, markdown } = parse();
  checkPrerequisites();

  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  let daemons: Daemon[] = [];
  try {
    const nodeFlags = [process.env.NODE_OPTIONS ?? '', nodeOptions ?? ''];
    if (prof) {
      const dir = resolve(prof);
      mkdirSync(dir, { recursive: true });
      nodeFlags.push(`--cpu-prof --cpu-prof-dir=${dir}`);
    }
    const berthdEnv = prof || nodeOptions ? { NODE_OPTIONS: nodeFlags.join(' ').trim() } : undefined;
    const env = await setup({ imageDir, sizeGiB, berthdEnv, hideCgroup2: opts.ociRuntime === 'crun', cri: chosen.some((s) => s.needsCri) }, cleanup);
    const mnt = env.mnt;
    daemons = env.daemons;
    console.log(`scratch fs: journaled ext4 (${sizeGiB} GiB, loop) on ${mnt}`);
    warnIfBusy('at the start');
    for (const d of daemons) console.log(`${d.name.padEnd(10)} pid ${d.pid} on ${d.address}`);

    const results = new Results();
    for (const scenario of chosen) {
      console.log(`\n== ${scenario.name}: ${scenario.summary}`);
      for (const d of daemons) await bounded(Promise.resolve(scenario.prepare?.(d, opts, cleanup)), roundLimitMs, `${scenario.name} setup on ${d.name}`);
      for (let round = 1; round <= opts.rounds; round++) {
        for (const d of daemons) {
          const t0 = Date.now();
          const progress = (line: string) => console.log(`  [${round}/${opts.rounds} ${d.name.padEnd(10)}] ${line}`);
          const ms = await bounded(scenario.round(d, opts, progress), roundLimitMs, `${scenario.name} round ${round} on ${d.name}`);
          results.add(d.name, ms);
          console.log(`  [${round}/${opts.rounds} ${d.name.padEnd(10)}] (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        }
      }
    }

    console.log(`\nMedians of all samples over ${opts.rounds} rounds; berthd/containerd < 1 is better where lower is, > 1 where higher is:\n`);
    console.log(results.table());
    warnIfBusy('during the run');
    if (markdown) console.log(`\n${results.markdown()}`);
  } catch (err) {
    for (const d of daemons) {
      const how = d.exited();
      if (how) process.stderr.write(`--- ${d.name} ${how}\n`);
      const tail = d.log().trim().split('\n').slice(-15).join('\n');
      if (tail) process.stderr.write(`--- last lines of ${d.name}'s log:\n${tail}\n`);
    }
    throw err;
  } finally {
    await cleanup.run();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
