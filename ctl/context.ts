import type { Command } from 'commander';
import type { BerthClient } from '../transport/client.ts';

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

  constructor(private readonly program: Command) {}

  get options(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
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
      const { BerthClient } = await import('../transport/client.ts');
      this.berth = new BerthClient({ address, namespace, timeoutMs: timeout && timeout > 0 ? timeout : undefined }).connect();
    }
    return this.berth;
  }

  close() {
    this.berth?.close();
    this.berth = undefined;
  }
}
