import type { Command, Option } from 'commander';

/** One command of the tree: its path of names from the program down, what follows it, its flags. */
interface Node {
  path: string;
  subcommands: Array<{ name: string; aliases: string[]; description: string }>;
  /** the values the first argument may take, where it is a choice */
  argChoices: readonly string[];
  flags: Array<{ long?: string; short?: string; takesValue: boolean; choices?: readonly string[]; description: string }>;
}

function walk(cmd: Command, path: string, out: Node[]): Node[] {
  const visible = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  out.push({
    path,
    subcommands: visible.map((c) => ({ name: c.name(), aliases: c.aliases(), description: c.description() })),
    argChoices: cmd.registeredArguments[0]?.argChoices ?? [],
    flags: cmd.options
      .filter((o: Option) => !o.hidden)
      .map((o: Option) => ({ long: o.long, short: o.short, takesValue: o.required || o.optional, choices: o.argChoices, description: o.description })),
  });
  for (const c of visible) walk(c, `${path} ${c.name()}`, out);
  return out;
}

const shellWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const oneLine = (s: string) => s.split('\n')[0]!.slice(0, 100);

/**
 * A bash completion script for the program: subcommands (aliases included), then flags of the
 * command reached so far, and the choices of a flag that takes one of a few values. The global
 * flags before the first command are the program's own.
 */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^a-zA-Z0-9_]/g, '_')}_complete`;
  const nodes = walk(program, name, []);
  const words: string[] = [];
  const next: string[] = [];
  const valued: string[] = [];
  const choices: string[] = [];
  for (const n of nodes) {
    const flags = n.flags.flatMap((f) => [f.long, f.short].filter((x): x is string => Boolean(x)));
    const subs = n.subcommands.map((s) => s.name);
    words.push(`    ${shellWord(n.path)}) echo ${shellWord([...subs, ...n.argChoices, ...flags].join(' '))} ;;`);
    for (const s of n.subcommands) {
      for (const alias of [s.name, ...s.aliases]) next.push(`    ${shellWord(`${n.path} ${alias}`)}) echo ${shellWord(`${n.path} ${s.name}`)} ;;`);
    }
    const withValue = n.flags.filter((f) => f.takesValue).flatMap((f) => [f.long, f.short].filter(Boolean));
    if (withValue.length > 0) valued.push(`    ${shellWord(n.path)}) echo ${shellWord(withValue.join(' '))} ;;`);
    for (const f of n.flags.filter((f) => f.choices)) {
      for (const flag of [f.long, f.short].filter(Boolean)) choices.push(`    ${shellWord(`${n.path} ${flag}`)}) echo ${shellWord(f.choices!.join(' '))} ;;`);
    }
  }
  return `# bash completion for ${name}: source it, or put it in /usr/share/bash-completion/completions/${name}
${fn}_words() {
  case "$1" in
${words.join('\n')}
  esac
}
${fn}_next() {
  case "$1" in
${next.join('\n')}
  esac
}
${fn}_valued() {
  case "$1" in
${valued.join('\n')}
  esac
}
${fn}_choices() {
  case "$1" in
${choices.join('\n')}
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path=${shellWord(name)} i w sub skip=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ -n $skip ]]; then skip=""; continue; fi
    if [[ $w == -* ]]; then
      [[ $w != *=* && " $(${fn}_valued "$path") " == *" $w "* ]] && skip=1
      continue
    fi
    sub="$(${fn}_next "$path $w")"
    [[ -n $sub ]] && path="$sub"
  done
  if [[ -n $skip ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_choices "$path \${COMP_WORDS[COMP_CWORD-1]}")" -- "$cur"))
    [[ \${#COMPREPLY[@]} -eq 0 ]] && compopt -o default 2>/dev/null
    return 0
  fi
  COMPREPLY=($(compgen -W "$(${fn}_words "$path")" -- "$cur"))
  return 0
}
complete -F ${fn} ${name}
`;
}

/** zsh runs the bash script through its bash compatibility layer. */
export function zshCompletion(program: Command): string {
  return `#compdef ${program.name()}
# zsh completion for ${program.name()}: source it from .zshrc (it loads zsh's bash completion support)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

/** A fish completion script: each command's subcommands and flags, offered where that command was reached. */
export function fishCompletion(program: Command): string {
  const name = program.name();
  const fn = `__${name}_path`;
  const nodes = walk(program, name, []);
  const next: string[] = [];
  const lines: string[] = [];
  for (const n of nodes) {
    const at = `"${fn}_is ${shellWord(n.path)}"`;
    for (const s of n.subcommands) {
      for (const alias of [s.name, ...s.aliases])
        next.push(`        case ${shellWord(`${n.path} ${alias}`)}\n            set path ${shellWord(`${n.path} ${s.name}`)}`);
      lines.push(`complete -c ${name} -f -n ${at} -a ${shellWord(s.name)} -d ${shellWord(oneLine(s.description))}`);
    }
    if (n.argChoices.length > 0) lines.push(`complete -c ${name} -f -n ${at} -a ${shellWord(n.argChoices.join(' '))}`);
    for (const f of n.flags) {
      const parts = [`complete -c ${name} -f -n ${at}`];
      if (f.long) parts.push(`-l ${f.long.replace(/^--/, '')}`);
      if (f.short) parts.push(`-s ${f.short.replace(/^-/, '')}`);
      if (f.takesValue) parts.push(f.choices ? `-x -a ${shellWord(f.choices.join(' '))}` : '-r');
      parts.push(`-d ${shellWord(oneLine(f.description))}`);
      lines.push(parts.join(' '));
    }
  }
  return `# fish completion for ${name}: put it in ~/.config/fish/completions/${name}.fish
function ${fn}
    set -l path ${shellWord(name)}
    for w in (commandline -opc)[2..-1]
        string match -q -- '-*' $w; and continue
        switch "$path $w"
${next.join('\n')}
        end
    end
    echo $path
end
function ${fn}_is
    test (${fn}) = $argv[1]
end
${lines.join('\n')}
`;
}
