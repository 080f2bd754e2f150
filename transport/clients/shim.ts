import { ShimEvents, TaskV2, Warm } from '../../api/services.ts';
import { BerthClient } from '../client.ts';
import { Channel } from '../grpc/channel.ts';
import type { Client } from '../typed.ts';

/** A Task call's deadline unless the call names its own (Wait names none). */
const defaultTimeoutMs = 30_000;

/**
 * A client for one shim's socket: the shim task API (containerd.task.v2.Task), berth's shim
 * events (berth.shim.v1.Events) and, for a warm shim, berth.shim.v1.Warm, every call on one
 * HTTP/2 connection of its own (Channel). Used by berthd and by tests.
 */
export class ShimClient {
  private readonly channel: Channel;
  private readonly client: BerthClient;
  private ownsChannel = true;
  readonly task: Client<typeof TaskV2>;
  readonly events: Client<typeof ShimEvents>;

  constructor(
    readonly address: string,
    readonly namespace: string,
    channel?: Channel,
  ) {
    this.channel = channel ?? new Channel(address);
    this.client = new BerthClient({ address, namespace, timeoutMs: defaultTimeoutMs }, this.channel);
    this.task = this.client.service(TaskV2);
    this.events = this.client.service(ShimEvents);
  }

  /** Hands a warm shim to a container (berth.shim.v1.Warm/Adopt); resolves with its new address. */
  adopt(request: { namespace: string; id: string; bundle: string; options: Buffer }): Promise<{ address: string }> {
    return this.client.service(Warm).Adopt(request, { timeoutMs: 5000 });
  }

  /**
   * A client for the shim at its new address, keeping this one's connection (already open, so
   * the adopted shim's first calls need none); this one is done.
   */
  handOver(address: string, namespace: string): ShimClient {
    this.channel.retarget(address);
    this.ownsChannel = false;
    return new ShimClient(address, namespace, this.channel);
  }

  close(): void {
    if (this.ownsChannel) this.channel.close();
  }
}
