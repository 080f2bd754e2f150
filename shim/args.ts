// Command-line flags in Go's flag-package style, as containerd passes them to a shim:
// `-name value`, `--name value`, `-name=value`; booleans take no value. The first word that is
// not a flag is the action (start, delete); none means the serving process.

export interface ShimArgs {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  action: string;
}

const valueFlags: Record<string, keyof ShimArgs> = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
};

export function parseArgs(argv: readonly string[]): ShimArgs {
  const args: ShimArgs = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', debug: false, action: '' };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('-')) {
      if (args.action !== '') throw new Error(`unexpected argument ${JSON.stringify(word)}`);
      args.action = word;
      continue;
    }
    let name = word.replace(/^--?/, '');
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)];
    if (name === 'debug') {
      args.debug = value === undefined || value === 'true' || value === '1';
      continue;
    }
    const key = valueFlags[name];
    if (!key) throw new Error(`unknown flag -${name}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`flag -${name} needs a value`);
      value = argv[++i]!;
    }
    (args as unknown as Record<string, string>)[key] = value;
  }
  return args;
}

/** The flags again, for the serving process (which gets no action). */
export function toArgv(args: ShimArgs): string[] {
  const out = ['-namespace', args.namespace, '-address', args.address, '-publish-binary', args.publishBinary, '-id', args.id];
  if (args.debug) out.push('-debug');
  return out;
}
