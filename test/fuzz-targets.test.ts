import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCorpus } from '../fuzz/engine.ts';
import { targets } from '../fuzz/targets/index.ts';

/**
 * Every fuzz target over its committed corpus and the inputs that once broke a property
 * (fuzz/regressions/NAME), once each: the targets keep compiling and the fixed bugs stay fixed.
 */
const fuzzDir = join(import.meta.dirname, '..', 'fuzz');

describe('fuzz targets over their corpus and regressions', () => {
  it('every target has a committed corpus', () => {
    expect(readdirSync(join(fuzzDir, 'corpus')).sort()).toEqual(Object.keys(targets).sort());
  });

  for (const name of Object.keys(targets)) {
    it(name, async () => {
      const target = await targets[name]!();
      const inputs = readCorpus([join(fuzzDir, 'corpus', name), join(fuzzDir, 'regressions', name)]);
      expect(inputs.length).toBeGreaterThan(0);
      try {
        for (const input of inputs) target.fuzz(input);
      } finally {
        target.close?.();
      }
    });
  }
});
