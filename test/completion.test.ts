import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin } from './support/harness.ts';
import { have } from './support/root.ts';

const berth = (args: string[]) => spawnSync(berthBin, args, { encoding: 'utf8', timeout: 20_000 });

describe('berth completion', () => {
  let dir: string;
  const script = (shell: string) => join(dir, `berth.${shell}`);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-completion-'));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = berth(['completion', shell]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      writeFileSync(script(shell), r.stdout);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // what bash's completion offers for a command line whose last word is being typed
  const bash = (words: string[], shell = 'bash', setup = '') => {
    const r = spawnSync(
      shell,
      [
        '-c',
        `${setup}source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _berth_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        shell,
        script(shell),
        ...words,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  };

  it('bash: commands, aliases, flags of the command reached, the values of a flag and of an argument', () => {
    expect(bash(['berth', 'ima'])).toEqual(['images']);
    expect(bash(['berth', 'i', 'pu'])).toEqual(['pull', 'push']);
    expect(bash(['berth', '-n', 'other', 'images', 'pull', '--pl'])).toEqual(['--plain-http', '--platform']);
    expect(bash(['berth', '--namespace', 'x', 'images', 'ls', '--format', ''])).toEqual(['json', 'table']);
    expect(bash(['berth', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    expect(bash(['berth', 'tasks', 'k'])).toEqual(['kill']);
    // a flag's value is not taken for a command: `run --snapshotter images` is still run's flags
    expect(bash(['berth', 'run', '--snapshotter', 'images', '--rm'])).toEqual(['--rm']);
  });

  it.skipIf(!have('zsh'))('zsh: the same, through zsh’s bash completion layer (which leaves the prefix match to zsh)', () => {
    const words = bash(['berth', 'i', 'pu'], 'zsh', 'setopt ksharrays; ');
    expect(words).toContain('pull');
    expect(words).toContain('push');
    expect(words).not.toContain('images');
    const r = spawnSync('zsh', ['-c', `source "$1"; complete -p berth`, 'zsh', script('zsh')], { encoding: 'utf8' });
    expect(r.stdout.split('\n')).toContain('complete -F _berth_complete berth');
  });

  it.skipIf(!have('fish'))('fish: commands with their descriptions, aliases, flags and flag values', () => {
    const fish = (line: string) => {
      const r = spawnSync('fish', ['-c', `source $argv[1]; complete -C "${line}"`, script('fish')], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0])
        .sort();
    };
    expect(fish('berth ima')).toEqual(['images']);
    expect(fish('berth i pull --pl')).toEqual(['--plain-http', '--platform']);
    expect(fish('berth images ls --format ')).toEqual(['json', 'table']);
    expect(fish('berth completion ')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('refuses a shell it does not know', () => {
    const r = berth(['completion', 'tcsh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("berth: command-argument value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.\n");
  });
});
