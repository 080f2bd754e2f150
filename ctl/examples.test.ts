import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { program } from './cli.ts';

/** Every command berth has, by path, with what its --help prints. */
function helpOfEach(cmd: Command, path: string, out: Array<[string, string]>): Array<[string, string]> {
  for (const sub of cmd.commands) {
    const at = `${path} ${sub.name()}`;
    if (sub.commands.length > 0) helpOfEach(sub, at, out);
    else {
      let text = '';
      sub.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      sub.outputHelp();
      out.push([at, text]);
    }
  }
  return out;
}

describe('berth --help', () => {
  it('every command’s help ends with an example of it', async () => {
    const { program: p } = await program();
    const helps = helpOfEach(p, 'berth', []);
    expect(helps.length).toBeGreaterThan(70);
    const without = helps.filter(([, text]) => !/\nExamples?:\n {2}\S/.test(text)).map(([path]) => path);
    expect(without).toEqual([]);
    // each example names its own command (a table entry cannot land under another)
    for (const [path, text] of helps) {
      const shown = text.slice(text.search(/\nExamples?:\n/));
      expect(shown, path).toContain(path.split(' ').slice(1).at(-1)!);
    }
  });
});
