import type { Command } from 'commander';
import { out } from '../output.ts';

/** `berth completion bash|zsh|fish`: a completion script made from the whole command tree. */
export function register(program: Command) {
  program
    .command('completion')
    .description('print a shell completion script')
    .addArgument(program.createArgument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
Examples:
  source <(berth completion bash)                      # this shell
  berth completion bash > /usr/share/bash-completion/completions/berth
  berth completion zsh > "\${fpath[1]}/_berth"
  berth completion fish > ~/.config/fish/completions/berth.fish`,
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const [{ program: full }, scripts] = await Promise.all([import('../cli.ts').then((m) => m.program()), import('../completion.ts')]);
      const make = { bash: scripts.bashCompletion, zsh: scripts.zshCompletion, fish: scripts.fishCompletion }[shell];
      out(make(full));
    });
}
