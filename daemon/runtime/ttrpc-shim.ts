// berthd's link to a runtime v2 shim that speaks ttrpc (containerd's shim protocol, e.g.
// containerd-shim-runc-v2): its Task API over one ttrpc connection, opened on first use and again
// after a loss while the shim lives. The shim publishes its events itself, to berthd's ttrpc
// events socket (TTRPC_ADDRESS), so there is nothing to pump here.
import { TaskV2 } from '../../api/services.ts';
import { BerthError } from '../../core/errors.ts';
import { TtrpcChannel, type TtrpcClient, ttrpcClient } from '../../transport/ttrpc/client.ts';
import type { CallOptions, Client } from '../../transport/typed.ts';
import type { Logger } from '../log.ts';
import { processStart } from './process.ts';
import type { ShimLink } from './shim.ts';

/** A Task call's deadline unless the call names its own. */
const defaultTimeoutMs = 30_000;

export class TtrpcShimConnection implements ShimLink {
  readonly tasks = new Set<string>();
  readonly client: { task: Client<typeof TaskV2> };
  private channel: Promise<{ channel: TtrpcChannel; task: TtrpcClient<typeof TaskV2> }> | undefined;
  private pid = 0;
  private pidStart: string | undefined;
  private closed = false;
  private retiring: (() => void) | undefined;

  constructor(
    readonly address: string,
    readonly namespace: string,
    private readonly log: Logger,
    private readonly onDead: (conn: TtrpcShimConnection) => void,
  ) {
    const task: Record<string, unknown> = {};
    for (const method of Object.keys(TaskV2.kinds)) {
      task[method] = async (request: object, o?: CallOptions) => {
        const api = (await this.open()).task as unknown as Record<string, (r: object, o?: CallOptions) => Promise<unknown>>;
        return api[method]!(request, o);
      };
    }
    this.client = { task: task as Client<typeof TaskV2> };
  }

  get shimPid(): number {
    return this.pid;
  }

  set shimPid(pid: number) {
    this.pid = pid;
    this.pidStart = processStart(pid);
  }

  private open() {
    if (this.closed) return Promise.reject(new BerthError('Unavailable', `shim ${this.address}: connection closed`));
    this.channel ??= TtrpcChannel.connect(this.address).then(
      (channel) => {
        channel.onClose = () => this.lost();
        return { channel, task: ttrpcClient(TaskV2, channel, { namespace: this.namespace, timeoutMs: defaultTimeoutMs }) };
      },
      (err: Error) => {
        this.channel = undefined;
        throw err;
      },
    );
    return this.channel;
  }

  /** The connection broke: a shim that still runs gets a new one on the next call; one that is gone is reported dead. */
  private lost(): void {
    this.channel = undefined;
    if (this.closed) return;
    if (this.retiring) {
      this.close();
      return;
    }
    const alive = this.pid > 0 && this.pidStart !== undefined && processStart(this.pid) === this.pidStart;
    if (alive) {
      this.log.debug('ttrpc connection to a live shim lost; reconnecting', { address: this.address });
      // reconnect now, so that the shim's death is noticed even if nobody calls it
      setTimeout(() => void this.open().catch(() => this.lost()), 100).unref();
      return;
    }
    this.close();
    this.onDead(this);
  }

  /** Events are pushed by the shim; the connection is opened so that its loss is noticed. */
  pump(): void {
    void this.open().catch(() => this.lost());
  }

  retire(closed: () => void): void {
    this.retiring = closed;
    // the shim exits after Shutdown; the connection goes with it (or now, if there is none)
    if (!this.channel) this.close();
  }

  revive(): boolean {
    if (this.closed) return false;
    this.retiring = undefined;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const retired = this.retiring;
    this.retiring = undefined;
    retired?.();
    void this.channel?.then(({ channel }) => channel.close()).catch(() => undefined);
    this.channel = undefined;
  }
}
