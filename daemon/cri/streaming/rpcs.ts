import { connect, type Socket } from 'node:net';
import type { RuntimeServiceHandlers } from '../../../api/gen/runtime/v1/RuntimeService.ts';
import { failedPrecondition, invalidArgument, unimplemented } from '../../../core/errors.ts';
import { connectInNetns } from '../../../native/namespaces.ts';
import { unary } from '../../grpc.ts';
import type { Logger } from '../../log.ts';
import type { TaskManager } from '../../runtime/manager.ts';
import type { CriExec } from '../exec.ts';
import type { PodSandboxes } from '../sandboxes.ts';
import { type AttachTargets, attachTo } from './attach.ts';
import type { RemoteIo, StreamOptions } from './remotecommand.ts';
import { type StreamBackends, StreamingServer } from './server.ts';

export interface CriStreamingDeps {
  ns: string;
  exec: CriExec;
  tasks: TaskManager;
  sandboxes: PodSandboxes;
  /** the containers lane's CriContainers; undefined: Attach answers UNIMPLEMENTED */
  attachTargets?: AttachTargets;
  address: string;
  port: number;
  idleTimeoutMs: number;
  log: Logger;
}

/**
 * ExecSync, Exec, Attach and PortForward (docs/cri.md): ExecSync runs the command here; the
 * other three check the request and answer a URL of the streaming server, which does the work
 * when the client connects.
 */
export class CriStreaming {
  readonly server: StreamingServer;

  constructor(private readonly d: CriStreamingDeps) {
    this.server = new StreamingServer({ address: d.address, port: d.port, idleTimeoutMs: d.idleTimeoutMs, backends: this.backends(), log: d.log });
  }

  listen(): Promise<void> {
    return this.server.listen();
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private backends(): StreamBackends {
    const { d } = this;
    return {
      exec: async (containerId, cmd, io, signal) => {
        // the process starts at the client's size (it may read it at once, before a resize lands)
        const size = io.tty ? await io.firstSize(firstSizeWaitMs) : undefined;
        const p = await d.exec.start(containerId, cmd, { tty: io.tty, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, size });
        followResizes(io, (w, h) => p.resize(w, h));
        const kill = () => void p.kill().catch(() => undefined);
        // the client may have gone while the exec started
        if (signal.aborted) kill();
        else signal.addEventListener('abort', kill, { once: true });
        try {
          return await p.exited;
        } finally {
          signal.removeEventListener('abort', kill);
        }
      },
      attach: async (containerId, io, signal) => {
        if (!d.attachTargets) throw unimplemented('Attach needs the CRI containers of berth');
        const c = await d.exec.container(containerId);
        const target = await d.attachTargets.attachTarget(c.id);
        const task = await d.exec.runningTask(c);
        if (target.tty) followResizes(io, (w, h) => task.resizePty('', w, h));
        await attachTo(target, io, task.wait(''), signal);
        return 0;
      },
      dialer: async (podSandboxId) => {
        const s = await d.sandboxes.status(podSandboxId);
        if (s.state !== 'SANDBOX_READY') throw failedPrecondition(`sandbox ${s.meta.ID} is not ready`);
        const netns = s.meta.NetNSPath;
        return (port: number) => (netns ? connectInNetns(netns, port) : connectHost(port));
      },
    };
  }

  handlers(): Pick<RuntimeServiceHandlers, 'ExecSync' | 'Exec' | 'Attach' | 'PortForward'> {
    const { d } = this;
    return {
      ExecSync: unary(async (req) => {
        const r = await d.exec.execSync(req.container_id, req.cmd, Number(req.timeout));
        return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
      }),
      Exec: unary(async (req) => {
        const options = checkStreams(req);
        if (req.cmd.length === 0) throw invalidArgument('a command is required');
        const c = await d.exec.container(req.container_id);
        await d.exec.runningTask(c);
        return { url: this.server.urlFor({ kind: 'exec', containerId: c.id, cmd: req.cmd, options }) };
      }),
      Attach: unary(async (req) => {
        const options = checkStreams(req);
        if (!d.attachTargets) throw unimplemented('Attach needs the CRI containers of berth');
        const c = await d.exec.container(req.container_id);
        await d.attachTargets.attachTarget(c.id);
        return { url: this.server.urlFor({ kind: 'attach', containerId: c.id, options }) };
      }),
      PortForward: unary(async (req) => {
        const s = await d.sandboxes.status(req.pod_sandbox_id);
        if (s.state !== 'SANDBOX_READY') throw failedPrecondition(`sandbox ${s.meta.ID} is not ready`);
        for (const port of req.port) if (port < 1 || port > 65535) throw invalidArgument(`port ${port} is out of range`);
        return { url: this.server.urlFor({ kind: 'portforward', podSandboxId: s.meta.ID }) };
      }),
    };
  }
}

/** As the kubelet's server checks: a tty has no separate stderr, and some stream is needed. */
function checkStreams(req: StreamOptions): StreamOptions {
  if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument('one of stdin, stdout, or stderr must be set');
  return { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
}

/** How long an exec with a terminal waits for the client's first size (clients send it first thing). */
const firstSizeWaitMs = 200;

/** Applies the client's terminal sizes one at a time, each the latest when sent (two in flight could land out of order). */
function followResizes(io: RemoteIo, resize: (width: number, height: number) => Promise<void>): void {
  let latest: { width: number; height: number } | undefined;
  let busy = false;
  const next = () => {
    if (busy || !latest) return;
    const size = latest;
    latest = undefined;
    busy = true;
    resize(size.width, size.height)
      .catch(() => undefined)
      .finally(() => {
        busy = false;
        next();
      });
  };
  io.onResize((size) => {
    latest = size;
    next();
  });
}

/** A pod on the node's network: its ports are the node's. */
function connectHost(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
