import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FuzzTarget } from './targets/index.ts';

/**
 * A small coverage-guided fuzzer (the loop of libFuzzer/AFL) on V8's own block coverage, read
 * through node:inspector after each input. An input that reaches a block not seen before, or a
 * block a new number of times (AFL's hit-count buckets), joins the corpus and is mutated further.
 * A watchdog thread saves the input and kills the process when one input runs too long.
 */

export interface FuzzOptions {
  seconds: number;
  /** where new corpus entries, crashes and hangs are written */
  workDir: string;
  /** corpora read at start (committed seeds, regressions, an earlier work dir) */
  seedDirs: string[];
  /** ms one input may take before it counts as a hang */
  timeoutMs: number;
  seed?: number;
}

export interface FuzzReport {
  execs: number;
  seconds: number;
  corpus: number;
  features: number;
  crashes: Array<{ file: string; message: string }>;
}

/** V8 block coverage of the code under `root`, as a set of numeric features per input. */
class Coverage {
  private readonly session = new Session();
  private readonly scripts = new Map<string, number>();

  constructor(
    private readonly root: string,
    /** packages under node_modules whose code counts too (the TOML parser under config.ts) */
    private readonly packages: string[],
  ) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post(method: string, params: object = {}): { result?: unknown } {
    let result: { result?: unknown } = {};
    // the in-process session answers synchronously
    this.session.post(method, params, (err, value) => {
      if (err) throw err;
      result = value as { result?: unknown };
    });
    return result;
  }

  /** The features since the last call (taking coverage resets V8's counters). */
  take(out: number[]): void {
    out.length = 0;
    for (const script of this.post('Profiler.takePreciseCoverage').result as Array<{
      url: string;
      functions: Array<{ ranges: Array<{ startOffset: number; count: number }> }>;
    }>) {
      if (!this.counts(script.url)) continue;
      let id = this.scripts.get(script.url);
      if (id === undefined) this.scripts.set(script.url, (id = this.scripts.size + 1));
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count > 0) out.push((id * 0x1000000 + range.startOffset) * 8 + bucket(range.count));
        }
      }
    }
  }

  private counts(url: string): boolean {
    // node_modules may be a link out of the tree: its scripts' URLs are where it leads
    if (url.includes('/node_modules/')) return this.packages.some((p) => url.includes(`/node_modules/${p}/`));
    return url.startsWith(this.root) && !url.includes('/fuzz/engine.ts');
  }
}

const bucket = (n: number) => (n === 1 ? 0 : n === 2 ? 1 : n === 3 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7);

/** xorshift32: reproducible with --seed */
class Random {
  constructor(private state: number) {
    if (this.state === 0) this.state = 1;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (this.state = x >>> 0);
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** libFuzzer's kinds of mutation, a few stacked per input. */
function mutate(input: Buffer, rnd: Random, corpus: Buffer[], dictionary: Buffer[], maxLength: number): Buffer {
  let data = Buffer.from(input);
  const steps = 1 + rnd.below(4);
  for (let s = 0; s < steps; s++) {
    const at = rnd.below(data.length + 1);
    switch (rnd.below(dictionary.length > 0 ? 11 : 9)) {
      case 0: // flip a bit
        if (data.length > 0) data[rnd.below(data.length)]! ^= 1 << rnd.below(8);
        break;
      case 1: // set a byte
        if (data.length > 0) data[rnd.below(data.length)] = rnd.below(256);
        break;
      case 2: {
        // erase a range
        const n = 1 + rnd.below(Math.min(16, data.length));
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + n)]);
        break;
      }
      case 3: {
        // insert random bytes, or a run of one byte
        const n = 1 + rnd.below(8);
        const fill = Buffer.alloc(n, rnd.below(256));
        if (rnd.below(2)) for (let i = 0; i < n; i++) fill[i] = rnd.below(256);
        data = Buffer.concat([data.subarray(0, at), fill, data.subarray(at)]);
        break;
      }
      case 4: {
        // overwrite with an interesting integer, 1, 2 or 4 bytes, either byte order
        const width = [1, 2, 4][rnd.below(3)]!;
        if (data.length < width) break;
        const pos = rnd.below(data.length - width + 1);
        const v = interesting[rnd.below(interesting.length)]! % 2 ** (8 * width);
        if (rnd.below(2)) data.writeUIntBE(v, pos, width);
        else data.writeUIntLE(v, pos, width);
        break;
      }
      case 5: {
        // add a small number to a byte
        if (data.length === 0) break;
        const pos = rnd.below(data.length);
        data[pos] = (data[pos]! + rnd.below(35) - 17) & 0xff;
        break;
      }
      case 6: {
        // copy a part of the input elsewhere in it
        if (data.length === 0) break;
        const from = rnd.below(data.length);
        const part = Buffer.from(data.subarray(from, from + 1 + rnd.below(64)));
        data = rnd.below(2)
          ? Buffer.concat([data.subarray(0, at), part, data.subarray(at)])
          : Buffer.concat([data.subarray(0, at), part, data.subarray(at + part.length)]);
        break;
      }
      case 7: {
        // splice with another corpus entry
        const other = corpus[rnd.below(corpus.length)]!;
        const cut = rnd.below(other.length + 1);
        data = Buffer.concat([data.subarray(0, at), other.subarray(cut)]);
        break;
      }
      case 8: {
        // change an ASCII number
        const text = data.toString('latin1');
        const m = /[0-9]+/g;
        const matches = [...text.matchAll(m)];
        if (matches.length === 0) break;
        const hit = matches[rnd.below(matches.length)]!;
        const n = String([0, 1, -1, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, Number(hit[0]) * 2 + 1][rnd.below(11)]);
        data = Buffer.concat([data.subarray(0, hit.index), Buffer.from(n), data.subarray(hit.index + hit[0].length)]);
        break;
      }
      case 9: // insert a dictionary token
      case 10: {
        const token = dictionary[rnd.below(dictionary.length)]!;
        data = rnd.below(2)
          ? Buffer.concat([data.subarray(0, at), token, data.subarray(at)])
          : Buffer.concat([data.subarray(0, at), token, data.subarray(at + token.length)]);
        break;
      }
    }
  }
  return data.length > maxLength ? data.subarray(0, maxLength) : data;
}

const digest = (b: Buffer) => createHash('sha1').update(b).digest('hex');

export function readCorpus(dirs: string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) out.push(readFileSync(join(dir, name)));
  }
  return out;
}

/** The watchdog: the input being run, where it is, and when it started, shared with a thread. */
function startWatchdog(hangDir: string, timeoutMs: number, maxLength: number) {
  const shared = new SharedArrayBuffer(16 + maxLength);
  const state = new Int32Array(shared, 0, 4); // [sequence, length, started ms (low 31 bits)]
  const bytes = new Uint8Array(shared, 16);
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const { writeFileSync, writeSync, mkdirSync } = require('node:fs');
     const { createHash } = require('node:crypto');
     const state = new Int32Array(workerData.shared, 0, 4);
     const bytes = new Uint8Array(workerData.shared, 16);
     let seen = -1;
     setInterval(() => {
       const seq = Atomics.load(state, 0);
       if (seq !== seen) { seen = seq; return; }
       if (seq % 2 === 0) return; // idle between inputs
       const ran = (Date.now() & 0x7fffffff) - Atomics.load(state, 2);
       if (ran < workerData.timeoutMs) return;
       const input = Buffer.from(bytes.subarray(0, Atomics.load(state, 1)));
       mkdirSync(workerData.hangDir, { recursive: true });
       const file = workerData.hangDir + '/hang-' + createHash('sha1').update(input).digest('hex');
       writeFileSync(file, input);
       // straight to fd 2: a worker's process.stderr goes through the main thread, which is stuck
       writeSync(2, '\\nHANG: one input ran for over ' + ran + ' ms; saved as ' + file + '\\n');
       process.kill(process.pid, 'SIGKILL');
     }, Math.max(50, workerData.timeoutMs / 4));`,
    { eval: true, workerData: { shared, hangDir, timeoutMs } },
  );
  worker.on('error', (err) => {
    throw new Error(`the fuzzer's watchdog failed: ${err.message}`);
  });
  worker.unref();
  return {
    /** before an input: odd sequence numbers mean "running" */
    begin(input: Buffer) {
      bytes.set(input.subarray(0, maxLength));
      Atomics.store(state, 1, Math.min(input.length, maxLength));
      Atomics.store(state, 2, Date.now() & 0x7fffffff);
      Atomics.add(state, 0, 1);
    },
    end() {
      Atomics.add(state, 0, 1);
    },
    stop: () => worker.terminate(),
  };
}

/** Fuzzes one target for `seconds`; returns what it did. */
export async function fuzz(target: FuzzTarget, repoRoot: string, opts: FuzzOptions, log: (line: string) => void): Promise<FuzzReport> {
  const corpusDir = join(opts.workDir, 'corpus');
  const crashDir = join(opts.workDir, 'crashes');
  mkdirSync(corpusDir, { recursive: true });
  const rnd = new Random(opts.seed ?? Date.now() >>> 0);
  const dictionary = (target.dictionary ?? []).map((t) => Buffer.from(t, 'latin1'));
  const maxLength = target.maxLength ?? 4096;
  const coverage = new Coverage(`${pathToFileURL(repoRoot).href}/`, target.alsoCover ?? []);
  const watchdog = startWatchdog(join(opts.workDir, 'hangs'), opts.timeoutMs, maxLength);
  /** features: a block and its hit-count bucket; blocks: the blocks alone */
  const seen = new Set<number>();
  const blocks = new Set<number>();
  const features: number[] = [];
  const corpus: Buffer[] = [];
  const crashes: FuzzReport['crashes'] = [];
  const crashKinds = new Set<string>();
  let execs = 0;

  /** Runs one input; false when it failed a property (reported once per kind). */
  const execute = (input: Buffer): boolean => {
    watchdog.begin(input);
    let failure: unknown;
    try {
      target.fuzz(input);
    } catch (err) {
      failure = err;
    }
    watchdog.end();
    execs++;
    if (failure === undefined) return true;
    const e = failure instanceof Error ? failure : new Error(String(failure));
    // one report per kind: the message's first line and where it was thrown
    const kind = `${e.name}: ${e.message
      .split('\n')[0]!
      .replace(/[0-9]+/g, 'N')
      .slice(0, 120)} @ ${e.stack?.split('\n')[1]?.trim() ?? ''}`;
    if (!crashKinds.has(kind)) {
      crashKinds.add(kind);
      mkdirSync(crashDir, { recursive: true });
      const file = join(crashDir, `crash-${digest(input)}`);
      writeFileSync(file, input);
      crashes.push({ file, message: e.stack ?? e.message });
      log(`CRASH ${file}\n${e.stack ?? e.message}`);
    }
    return false;
  };

  /** One input with a coverage reading of its own: whether it reached something new. */
  const runAlone = (input: Buffer): boolean => {
    const ok = execute(input);
    coverage.take(features);
    if (!ok) return false;
    let fresh = false;
    for (const f of features) {
      if (seen.has(f)) continue;
      seen.add(f);
      blocks.add(f - (f % 8));
      fresh = true;
    }
    return fresh;
  };

  /**
   * Several inputs under one coverage reading, which costs far more than most inputs: only a
   * batch that reaches a block never reached before is run again input by input. (Hit counts of
   * a batch add up, so they only count when inputs run alone.)
   */
  const runBatch = (inputs: Buffer[]): Buffer[] => {
    for (const input of inputs) execute(input);
    coverage.take(features);
    if (features.every((f) => blocks.has(f - (f % 8)))) return [];
    return inputs.filter(runAlone);
  };

  const start = performance.now();
  const seeds = readCorpus(opts.seedDirs);
  if (seeds.length === 0) seeds.push(Buffer.alloc(0));
  for (const input of seeds) if (runAlone(input.subarray(0, maxLength))) corpus.push(input.subarray(0, maxLength));
  if (corpus.length === 0) corpus.push(seeds[0]!.subarray(0, maxLength));
  log(`${target.name}: ${seeds.length} seeds, ${corpus.length} kept, ${seen.size} features`);

  const deadline = start + opts.seconds * 1000;
  let lastLog = performance.now();
  for (let round = 0; performance.now() < deadline; round++) {
    const inputs = Array.from({ length: 16 }, () => mutate(corpus[rnd.below(corpus.length)]!, rnd, corpus, dictionary, maxLength));
    // one round in four runs its inputs alone, so that new hit counts are seen too
    for (const input of round % 4 === 0 ? inputs.filter(runAlone) : runBatch(inputs)) {
      corpus.push(input);
      writeFileSync(join(corpusDir, digest(input)), input);
    }
    // lets what the target scheduled (timers, next ticks) run between batches
    await new Promise((resolve) => setImmediate(resolve));
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(
        `${target.name}: ${execs} execs, ${Math.round(execs / ((lastLog - start) / 1000))}/s, corpus ${corpus.length}, features ${seen.size}, crashes ${crashes.length}`,
      );
    }
  }
  await watchdog.stop();
  target.close?.();
  return { execs, seconds: (performance.now() - start) / 1000, corpus: corpus.length, features: seen.size, crashes };
}
