import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fuzz } from './engine.ts';
import { targets } from './targets/index.ts';

/**
 * npm run fuzz -- --list
 * npm run fuzz -- NAME [--seconds N] [--timeout-ms N] [--seed N] [--work-dir DIR]
 * npm run fuzz -- NAME --replay FILE...   (runs the target once over each file)
 *
 * Seeds come from fuzz/corpus/NAME and fuzz/regressions/NAME (and the work dir of an earlier
 * run); what the run finds goes to the work dir, by default $TMPDIR/berth-fuzz/NAME.
 */
const usage = 'usage: npm run fuzz -- NAME [--seconds N] [--timeout-ms N] [--seed N] [--work-dir DIR] | NAME --replay FILE... | --list';
const here = dirname(new URL(import.meta.url).pathname);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    list: { type: 'boolean' },
    seconds: { type: 'string', default: '60' },
    'timeout-ms': { type: 'string', default: '2000' },
    seed: { type: 'string' },
    'work-dir': { type: 'string' },
    replay: { type: 'boolean' },
  },
});

if (values.list) {
  for (const name of Object.keys(targets)) console.log(name);
  process.exit(0);
}
const name = positionals[0];
if ((values.replay ? positionals.length < 2 : positionals.length !== 1) || name === undefined || !Object.hasOwn(targets, name)) {
  console.error(name && !Object.hasOwn(targets, name) ? `no target ${name}; --list shows them\n${usage}` : usage);
  process.exit(2);
}
if (values.replay) {
  const target = await targets[name]!();
  let failed = 0;
  for (const file of positionals.slice(1)) {
    const started = performance.now();
    try {
      target.fuzz(readFileSync(file));
      console.log(`${file}: ok in ${Math.round(performance.now() - started)} ms`);
    } catch (err) {
      failed++;
      console.log(`${file}: FAILED after ${Math.round(performance.now() - started)} ms\n${(err as Error).stack ?? String(err)}`);
    }
  }
  process.exit(failed > 0 ? 1 : 0);
}
const workDir = values['work-dir'] ?? join(tmpdir(), 'berth-fuzz', name);
const target = await targets[name]!();
const report = await fuzz(
  target,
  dirname(here),
  {
    seconds: Number(values.seconds),
    timeoutMs: Number(values['timeout-ms']),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    workDir,
    seedDirs: [join(here, 'corpus', name), join(here, 'regressions', name), join(workDir, 'corpus')],
  },
  (line) => console.log(line),
);
console.log(
  `${name}: ${report.execs} execs in ${report.seconds.toFixed(0)} s (${Math.round(report.execs / report.seconds)}/s), corpus ${report.corpus}, ` +
    `features ${report.features}, ${report.crashes.length} crash kind(s)${report.crashes.length ? ` in ${join(workDir, 'crashes')}` : ''}`,
);
process.exit(report.crashes.length > 0 ? 1 : 0);
