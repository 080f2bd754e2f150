import type { BerthClient } from '../transport/client.ts';
import type { Flag } from './flags.ts';
import { parseDuration } from './parse.ts';

export const defaultAddress = '/run/berth/berth.sock';
export const defaultNamespace = 'default';

/** The global flags' table (see flags.ts). */
export const globalFlags: readonly Flag[] = [
  { flags: '-a, --address <path>', description: "address of berthd's socket", env: 'BERTH_ADDRESS', default: defaultAddress },
  { flags: '-n, --namespace <name>', description: 'namespace to work in', env: 'BERTH_NAMESPACE', default: defaultNamespace },
  { flags: '--timeout <duration>', description: 'deadline for each call to the daemon (e.g. 500ms, 10s; 0: none)', parse: parseDuration },
  { flags: '--debug', description: 'print stack traces and gRPC details with errors' },
];

/** The global flags, given before the command as with ctr. */
export interface GlobalOptions {
  address: string;
  namespace: string;
  /** deadline per call, in milliseconds */
  timeout?: number;
  debug?: boolean;
}

/**
 * What a command's action gets: the global flags and a client made on first use. The gRPC
 * modules are imported only when a command actually calls the daemon, so `berth --help` and
 * usage errors stay quick.
 */
export class Context {
  private berth: BerthClient | undefined;

  /**
   * `globals`: the global flags' values (commander's, once it has parsed them). `codecs`: the
   * client's protobuf codecs: protobufjs's (api/codec.ts), or api/wire.ts's, which cost far less
   * to load (the fast path of `berth run`, ctl/fast-run.ts).
   */
  constructor(
    private readonly globals: () => GlobalOptions,
    private readonly codecs: 'protobufjs' | 'wire' = 'protobufjs',
  ) {}

  get options(): GlobalOptions {
    return this.globals();
  }

  /**
   * The client for this invocation. Commands that work inside a namespace check its name here,
   * so a bad `-n` fails with a clear message before anything is sent.
   */
  async client(opts: { namespaced?: boolean } = {}): Promise<BerthClient> {
    const { address, namespace, timeout } = this.options;
    if (opts.namespaced !== false) {
      const { validateIdentifier } = await import('../core/identifiers.ts');
      validateIdentifier(namespace);
    }
    if (!this.berth) {
      const options = { address, namespace, timeoutMs: timeout && timeout > 0 ? timeout : undefined };
      if (this.codecs === 'wire') {
        const [{ ServiceClient }, { wireMethod }] = await Promise.all([import('../transport/service-client.ts'), import('../api/wire.ts')]);
        this.berth = new ServiceClient(options, wireMethod).connect();
      } else {
        const { BerthClient } = await import('../transport/client.ts');
        this.berth = new BerthClient(options).connect();
      }
    }
    return this.berth;
  }

  close() {
    this.berth?.close();
    this.berth = undefined;
  }
}
