import * as grpc from '@grpc/grpc-js';
import { channelOptions, loadProtoDir, lookup } from './api.ts';
import { fromGrpc } from './errors.ts';
import type { ShimEvent__Output } from './gen/berth/shim/v1/ShimEvent.ts';

/**
 * A client for one shim's socket: the shim task API (containerd.task.v2.Task) and berth's shim
 * events (berth.shim.v1.Events), sharing one channel. Used by berthd and by tests.
 */
export class ShimClient {
  readonly task: grpc.Client;
  readonly events: grpc.Client;

  constructor(readonly address: string, readonly namespace: string) {
    const target = address.startsWith('unix://') ? `unix:${address.slice('unix://'.length)}` : address.startsWith('unix:') ? address : `unix:${address}`;
    const Task = lookup<grpc.ServiceClientConstructor>(loadProtoDir('containerd/runtime/task/v2'), 'containerd.task.v2.Task');
    const Events = lookup<grpc.ServiceClientConstructor>(loadProtoDir('berth/shim/v1'), 'berth.shim.v1.Events');
    this.task = new Task(target, grpc.credentials.createInsecure(), channelOptions);
    this.events = new Events(target, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.task.getChannel() as grpc.Channel });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', this.namespace);
    return md;
  }

  /** Calls a Task method; `timeoutMs` 0 means no deadline (Wait). Failures become BerthErrors. */
  call<Res>(method: string, request: object, timeoutMs = 30_000): Promise<Res> {
    const fn = (this.task as unknown as Record<string, Function>)[method];
    const options: grpc.CallOptions = timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {};
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.task, request, this.metadata(), options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(fromGrpc(err)) : resolve(res)));
    });
  }

  /** Opens the event stream: every unacknowledged event, then live ones. */
  subscribe(): grpc.ClientReadableStream<ShimEvent__Output> {
    return (this.events as unknown as { Subscribe(req: object, md: grpc.Metadata): grpc.ClientReadableStream<ShimEvent__Output> }).Subscribe({}, this.metadata());
  }

  ack(seq: number | string): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.events as unknown as Record<string, Function>).Ack.call(this.events, { seq }, this.metadata(), { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) =>
        err ? reject(fromGrpc(err)) : resolve(),
      );
    });
  }

  close(): void {
    this.events.close();
    this.task.close();
  }
}
