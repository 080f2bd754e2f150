import { maxMessageSize, methodDefinition, ServiceRef } from '../../api/codec.ts';
import type { ShimEvent__Output } from '../../api/gen/berth/shim/v1/ShimEvent.ts';
import { type CallOptions, Channel, type ClientCall, type MethodCodec } from '../grpc/channel.ts';

const taskService = new ServiceRef('containerd/runtime/task/v2', 'containerd.task.v2.Task');
const eventsService = new ServiceRef('berth/shim/v1', 'berth.shim.v1.Events');
const warmService = new ServiceRef('berth/shim/v1', 'berth.shim.v1.Warm');

/**
 * A client for one shim's socket: the shim task API (containerd.task.v2.Task), berth's shim
 * events (berth.shim.v1.Events) and, for a warm shim, berth.shim.v1.Warm, every call on one
 * HTTP/2 connection of its own (Channel). Used by berthd and by tests.
 */
export class ShimClient {
  private readonly channel: Channel;
  private ownsChannel = true;

  constructor(
    readonly address: string,
    readonly namespace: string,
    channel?: Channel,
  ) {
    this.channel = channel ?? new Channel(address);
  }

  /** Hands a warm shim to a container (berth.shim.v1.Warm/Adopt); resolves with its new address. */
  adopt(request: { namespace: string; id: string; bundle: string; options: Buffer }): Promise<{ address: string }> {
    return this.unary(warmService, 'Adopt', request, 5000);
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

  /** Every call carries the namespace; `timeoutMs` 0: no deadline. */
  private callOptions(timeoutMs: number): CallOptions {
    return { headers: { 'containerd-namespace': this.namespace }, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : undefined, maxMessageSize };
  }

  private async unary<Res>(ref: ServiceRef, method: string, request: object, timeoutMs: number): Promise<Res> {
    const [res] = await this.channel.invoke<Res>(methodDefinition(ref, method), request, this.callOptions(timeoutMs));
    return res!;
  }

  /** Calls a Task method; `timeoutMs` 0 means no deadline (Wait). Failures become BerthErrors. */
  call<Res>(method: string, request: object, timeoutMs = 30_000): Promise<Res> {
    return this.unary<Res>(taskService, method, request, timeoutMs);
  }

  /** Opens the event stream: every unacknowledged event, then live ones. */
  subscribe(): ClientCall<object, ShimEvent__Output> {
    const call = this.channel.open(methodDefinition(eventsService, 'Subscribe') as unknown as MethodCodec<object, ShimEvent__Output>, this.callOptions(0));
    call.write({});
    call.end();
    return call;
  }

  async ack(seq: number | string): Promise<void> {
    await this.unary(eventsService, 'Ack', { seq }, 10_000);
  }

  close(): void {
    if (this.ownsChannel) this.channel.close();
  }
}
