import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { getPriority, setPriority } from 'node:os';
import { type AnyMessage, encodeAny } from '../../core/any.ts';
import { stateEnv } from '../../core/shim-contract.ts';
import { ShimClient } from '../../transport/clients/shim.ts';
import type { Logger } from '../log.ts';

interface Warm {
  child: ChildProcess;
  path: string;
  /** a client of its socket, connected while the shim waits */
  client: ShimClient;
}

/** The niceness a warm shim starts and waits with, so that it does not slow the task creates running meanwhile. */
const waitingNice = 19;

/**
 * Sets the niceness of every thread of a process (Linux's niceness is per thread); returns
 * whether its main thread, which spawns runc and so the container, got it.
 */
function renice(pid: number, nice: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    tids = [String(pid)];
  }
  let main = false;
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
      if (Number(tid) === pid) main = true;
    } catch {
      // exited meanwhile
    }
  }
  return main;
}

/** Kills a warm shim that was not adopted, and removes its socket (SIGKILL leaves it behind). */
function discard(w: Warm): void {
  w.child.kill('SIGKILL');
  try {
    unlinkSync(w.path);
  } catch {
    // gone already
  }
}

/**
 * One berth-shim-runc-v2 started ahead of need (`warm`), so that a task create hands it the
 * container (berth.shim.v1.Warm/Adopt) instead of waiting for `shim start` and the serving
 * process it spawns. Only for berth's own shim; any failure falls back to `start`. The warm shim
 * holds a pipe from berthd on its stdin and exits when berthd goes away before adopting it.
 *
 * The next warm shim is started while a create waits for runc (TaskManager calls refill()),
 * that is while containers are being created and run, and a Node.js start costs a core for
 * ~0.1 s: it starts and waits at the lowest priority, and gets the normal one back when it is
 * adopted (or when a create has to wait for it). Once it listens, berthd connects to it and makes
 * one call through its gRPC server, so that the code on the path of Adopt and Create is compiled
 * before a container waits for it.
 */
export class WarmShims {
  private next: Promise<Warm | undefined> | undefined;
  /** the pid of the warm shim while it starts (before it listens) */
  private starting: number | undefined;
  private closed = false;
  /** berthd's own niceness, which an adopted shim gets back */
  private readonly nice = getPriority();

  constructor(
    readonly binary: string,
    private readonly state: string,
    private readonly daemonAddress: string,
    private readonly log: Logger,
  ) {}

  /** Starts the next warm shim, unless there is one already. */
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
        env: { ...process.env, [stateEnv]: this.state },
      });
      // still the launcher script here: the Node.js threads it execs inherit the niceness
      if (child.pid) renice(child.pid, waitingNice);
      this.starting = child.pid;
      let said = '';
      const ready = child.stdio[3] as Socket;
      ready.setEncoding('utf8');
      ready.on('data', (d: string) => (said += d));
      ready.on('close', () => {
        this.starting = undefined;
        const m = /^ok (\S+)/.exec(said.trim());
        if (!m) {
          child.kill('SIGKILL');
          return reject(new Error(`warm shim: ${said.trim() || 'exited before listening'}`));
        }
        // neither the child nor its stdin pipe should keep berthd's event loop alive
        child.unref();
        (child.stdin as Socket).unref();
        const path = m[1]!;
        // an idle shim answers FailedPrecondition: all that matters is the round trip, which
        // also opens the connection Adopt and the container's first calls will use
        const client = new ShimClient(`unix://${path}`, '');
        void client.task.Connect({ id: '' }, { timeoutMs: 5000 }).catch(() => undefined);
        resolve({ child, path, client });
      });
      child.once('error', (err) => {
        this.starting = undefined;
        reject(err);
      });
    });
  }

  /**
   * Hands a container to the warm shim: its address, and a client for it on the connection
   * already open; undefined when there is none or it refused (then use `start`).
   */
  async adopt(
    namespace: string,
    id: string,
    bundle: string,
    options: AnyMessage | null | undefined,
  ): Promise<{ address: string; client: ShimClient } | undefined> {
    const pending = this.next;
    this.next = undefined;
    if (this.starting) {
      this.log.debug('a create waits for the warm shim to start', { id });
      renice(this.starting, this.nice);
    }
    const warm = await pending;
    if (!warm) return undefined;
    const { client } = warm;
    try {
      // the container inherits the shim's niceness: berthd's own, as with a shim from `start`
      if (!renice(warm.child.pid!, this.nice)) throw new Error('cannot restore its priority');
      const { address } = await client.adopt({ namespace, id, bundle, options: Buffer.from(encodeAny(options)) });
      return { address, client: client.handOver(address, namespace) };
    } catch (err) {
      this.log.debug('warm shim not adopted; starting one', { id, error: (err as Error).message });
      discard(warm);
      return undefined;
    } finally {
      client.close();
      warm.child.stdin?.destroy();
    }
  }

  close(): void {
    this.closed = true;
    void this.next?.then((w) => {
      if (!w) return;
      w.client.close();
      discard(w);
    });
    this.next = undefined;
  }
}
