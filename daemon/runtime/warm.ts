import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { AnyMessage } from '../../proto/any.ts';
import { channelOptions, loadProtoDir, lookup } from '../../proto/api.ts';
import { fromGrpc } from '../../proto/errors.ts';
import type { Logger } from '../log.ts';
import { encodeAny } from './shim.ts';

interface Warm {
  child: ChildProcess;
  path: string;
}

/**
 * One berth-shim-runc-v2 started ahead of need (`warm`), so that a task create hands it the
 * container (berth.shim.v1.Warm/Adopt) instead of waiting for `shim start` and the serving
 * process it spawns. Only for berth's own shim; any failure falls back to `start`. The warm shim
 * holds a pipe from berthd on its stdin and exits when berthd goes away before adopting it.
 */
export class WarmShims {
  private next: Promise<Warm | undefined> | undefined;
  private closed = false;

  constructor(
    readonly binary: string,
    private readonly state: string,
    private readonly daemonAddress: string,
    private readonly log: Logger,
  ) {}

  refill(): void {
    if (this.closed || this.next || !existsSync(this.binary)) return;
    this.next = this.spawn().catch((err: Error) => {
      this.log.debug('no warm shim', { error: err.message });
      return undefined;
    });
  }

  private spawn(): Promise<Warm> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, ['-address', this.daemonAddress, 'warm'], {
        cwd: '/',
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
        env: { ...process.env, BERTH_STATE: this.state },
      });
      let said = '';
      const ready = child.stdio[3] as Socket;
      ready.setEncoding('utf8');
      ready.on('data', (d: string) => (said += d));
      ready.on('close', () => {
        const m = /^ok (\S+)/.exec(said.trim());
        if (!m) {
          child.kill('SIGKILL');
          return reject(new Error(`warm shim: ${said.trim() || 'exited before listening'}`));
        }
        // neither the child nor its stdin pipe should keep berthd's event loop alive
        child.unref();
        (child.stdin as Socket).unref();
        resolve({ child, path: m[1]! });
      });
      child.once('error', reject);
    });
  }

  /** Hands a container to the warm shim; undefined when there is none or it refused (then use `start`). */
  async adopt(namespace: string, id: string, bundle: string, options: AnyMessage | null | undefined): Promise<string | undefined> {
    const pending = this.next;
    this.next = undefined;
    const warm = await pending;
    this.refill();
    if (!warm) return undefined;
    const Warm = lookup<grpc.ServiceClientConstructor>(loadProtoDir('berth/shim/v1'), 'berth.shim.v1.Warm');
    const client = new Warm(`unix:${warm.path}`, grpc.credentials.createInsecure(), channelOptions);
    try {
      const res = await new Promise<{ address: string }>((resolve, reject) =>
        (client as unknown as Record<string, Function>).Adopt.call(
          client,
          { namespace, id, bundle, options: Buffer.from(encodeAny(options)) },
          new grpc.Metadata(),
          { deadline: Date.now() + 5000 },
          (err: grpc.ServiceError | null, r: { address: string }) => (err ? reject(fromGrpc(err)) : resolve(r)),
        ),
      );
      return res.address;
    } catch (err) {
      this.log.debug('warm shim not adopted; starting one', { id, error: (err as Error).message });
      warm.child.kill('SIGKILL');
      return undefined;
    } finally {
      client.close();
      warm.child.stdin?.destroy();
    }
  }

  close(): void {
    this.closed = true;
    void this.next?.then((w) => w?.child.kill('SIGKILL'));
    this.next = undefined;
  }
}
