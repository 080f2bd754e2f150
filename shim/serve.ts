// The serving process: a child subreaper in its own session, serving containerd.task.v2.Task and
// berth.shim.v1.Events over gRPC on a unix socket that only root can open.
import { chmodSync, closeSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { channelOptions } from '../proto/api.ts';
import { setChildSubreaper } from '../native/index.ts';
import type { ShimArgs } from './args.ts';
import { EventQueue } from './events.ts';
import { groupId, socketPath, stateDir } from './paths.ts';
import { serviceDefinition } from './proto.ts';
import { Reaper } from './reaper.ts';
import { TaskService } from './service.ts';
import { isListening } from './start.ts';

const readyFd = 3;

/** Tells `start` (waiting on fd 3) how starting went, and lets go of the descriptor. */
function report(word: string): void {
  try {
    writeSync(readyFd, `${word}\n`);
    closeSync(readyFd);
  } catch {
    // started by hand, without `start` watching
  }
}

/**
 * Closes descriptors the shim inherited by mistake (a caller's descriptor without close-on-exec
 * passes through `start` into this long-lived process). Node's own descriptors are all
 * close-on-exec, and 0-2 and the ready pipe are ours, so the rest can go.
 */
function closeInheritedFds(): void {
  const O_CLOEXEC = 0o2000000;
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= readyFd) continue;
    try {
      const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) closeSync(fd);
    } catch {
      // the directory's own descriptor, gone by now
    }
  }
}

/** -debug: every Task call is logged to shim.log. */
function traced(handlers: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(handlers)) {
    out[name] = (call: { request?: { id?: string; exec_id?: string } }, ...rest: unknown[]) => {
      log(`${name} id=${call.request?.id ?? ''} exec_id=${call.request?.exec_id ?? ''}`);
      return (fn as (...a: unknown[]) => unknown)(call, ...rest);
    };
  }
  return out;
}

export function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} berth-shim[${process.pid}] ${message}\n`);
}

export async function serve(args: ShimArgs): Promise<void> {
  if (!args.namespace || !args.id || !args.address) throw new Error('the shim needs -namespace, -id and -address');
  closeInheritedFds();
  const bundle = process.cwd();
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
  const path = socketPath(stateDir(), args.address, args.namespace, groupId(args.id, spec));

  setChildSubreaper();
  const reaper = new Reaper();
  const events = new EventQueue(args.namespace);
  const tasks = new TaskService(args.namespace, events, reaper);

  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? err}`));

  const server = new grpc.Server(channelOptions);
  server.addService(serviceDefinition('containerd.task.v2.Task'), args.debug ? traced(tasks.handlers()) : tasks.handlers());
  server.addService(serviceDefinition('berth.shim.v1.Events'), events.handlers());

  // the socket file is created by bind(2) with the umask's mode: make it 0600 from the start
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    process.umask(umask);
    if (await isListening(path)) {
      // another shim won the race for this group
      report('live');
      process.exit(0);
    }
    report(`listen on ${path}: ${(err as Error).message}`);
    process.exit(1);
  }
  process.umask(umask);
  chmodSync(path, 0o600);

  let exiting = false;
  const exit = (now: boolean) => {
    if (exiting) return;
    exiting = true;
    log('exiting');
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
    events.closeStreams();
    // let the call that got us here (an Ack, a Shutdown) have its answer first; calls still
    // open (a Wait) are cut after a moment
    const force = setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, now ? 100 : 1000);
    server.tryShutdown(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  tasks.onShutdown = (now) => {
    if (now) return exit(true);
    // the daemon may not have read the last events yet: they leave before the shim does
    log(`shutdown requested, ${events.pending} event(s) to deliver`);
    void events.idle().then(() => {
      if (tasks.size === 0) exit(false);
    });
  };

  log(`serving ${args.namespace}/${args.id} on ${path}, ready ${performance.now().toFixed(0)} ms after process start`);
  report('ok');
  // what every Create needs, loaded while the daemon reads our address and dials
  setImmediate(() => {
    void import('../native/mount.ts');
    void import('./oom.ts');
  });
}
