// The serving process: a child subreaper in its own session, serving containerd.task.v2.Task and
// berth.shim.v1.Events over gRPC on a unix socket that only root can open.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { definitionOf, maxMessageSize, ServiceRef, warm } from '../api/codec.ts';
import { bundleFiles } from '../core/shim-contract.ts';
import { setChildSubreaper } from '../native/index.ts';
import { GrpcServer } from '../transport/grpc/server.ts';
import { GrpcStatus } from '../transport/grpc/status.ts';
import type { ShimArgs } from './args.ts';
import { EventQueue } from './events.ts';
import { groupId, socketPath, stateDir } from './paths.ts';
import { Reaper } from './reaper.ts';
import { TaskService } from './service.ts';
import { isListening } from './start.ts';

const readyFd = 3;

const taskService = new ServiceRef('containerd/runtime/task/v2', 'containerd.task.v2.Task');
const eventsService = new ServiceRef('berth/shim/v1', 'berth.shim.v1.Events');
const warmService = new ServiceRef('berth/shim/v1', 'berth.shim.v1.Warm');

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

let logFd = 2;

export function log(message: string): void {
  try {
    writeSync(logFd, `${new Date().toISOString()} berth-shim[${process.pid}] ${message}\n`);
  } catch {
    // nowhere to log to
  }
}

/** Binds the server on a unix socket that only root can open (0600 from bind(2) on). */
async function bind(server: GrpcServer, path: string): Promise<void> {
  const umask = process.umask(0o177);
  try {
    await server.listen(path);
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
}

/** What a shim serving containers has: its task service and event queue, on one socket. */
interface Serving {
  tasks: TaskService;
  events: EventQueue;
  path: string;
}

/** Exits once the last container is gone and its events were delivered (or at once when asked). */
function exitWhenDone(server: GrpcServer, s: Serving): void {
  let exiting = false;
  const exit = (now: boolean) => {
    if (exiting) return;
    exiting = true;
    log('exiting');
    try {
      unlinkSync(s.path);
    } catch {
      // gone already
    }
    s.events.closeStreams();
    // let the call that got us here (an Ack, a Shutdown) have its answer first; calls still
    // open (a Wait) are cut after a moment
    const force = setTimeout(
      () => {
        server.forceShutdown();
        process.exit(0);
      },
      now ? 100 : 1000,
    );
    void server.shutdown().then(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  s.tasks.onShutdown = (now) => {
    if (now) return exit(true);
    // the daemon may not have read the last events yet: they leave before the shim does
    log(`shutdown requested, ${s.events.pending} event(s) to deliver`);
    void s.events.idle().then(() => {
      if (s.tasks.size === 0) exit(false);
    });
  };
}

function common(): Reaper {
  closeInheritedFds();
  setChildSubreaper();
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? err}`));
  return new Reaper();
}

/**
 * What every Create needs, loaded while the daemon reads our address and dials; a warm shim,
 * which waits for its container anyway, also builds its message codecs (~12 ms).
 */
function preload(warmShim = false): void {
  setImmediate(() => {
    void import('../native/mount.ts');
    void import('../core/runc/oom.ts');
    // every message the shim encodes or decodes: its services', the events it publishes, runc's
    // options and the Any they come in
    if (warmShim) warm([taskService, eventsService, warmService, 'containerd.events.TaskExit', 'containerd.runc.v1.Options', 'google.protobuf.Any']);
  });
}

export async function serve(args: ShimArgs): Promise<void> {
  if (!args.namespace || !args.id || !args.address) throw new Error('the shim needs -namespace, -id and -address');
  const bundle = process.cwd();
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
  const path = socketPath(stateDir(), args.address, args.namespace, groupId(args.id, spec));
  const reaper = common();
  const events = new EventQueue(args.namespace);
  const tasks = new TaskService(args.namespace, events, reaper);

  const server = new GrpcServer({ maxMessageSize });
  server.addService(definitionOf(taskService), args.debug ? traced(tasks.handlers()) : tasks.handlers());
  server.addService(definitionOf(eventsService), events.handlers());
  try {
    await bind(server, path);
  } catch (err) {
    if (await isListening(path)) {
      // another shim won the race for this group
      report('live');
      process.exit(0);
    }
    report(`listen on ${path}: ${(err as Error).message}`);
    process.exit(1);
  }
  exitWhenDone(server, { tasks, events, path });
  log(`serving ${args.namespace}/${args.id} on ${path}, ready ${performance.now().toFixed(0)} ms after process start`);
  report('ok');
  preload();
}

/**
 * Handlers that answer FailedPrecondition until the shim serves a container, then pass each call
 * to that container's handlers.
 */
function deferred(def: grpc.ServiceDefinition, current: () => grpc.UntypedServiceImplementation | undefined): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  const idle = { code: GrpcStatus.FAILED_PRECONDITION, details: 'this shim serves no container yet' };
  for (const [name, method] of Object.entries(def)) {
    out[name] = (call: { emit(e: 'error', err: unknown): void }, callback?: (err: unknown) => void) => {
      const h = current();
      if (h) return (h[name] as (...a: unknown[]) => unknown)(call, callback);
      if (method.responseStream) call.emit('error', idle);
      else callback?.(idle);
    };
  }
  return out;
}

/**
 * `berth-shim-runc-v2 -address A warm`: a shim that berthd starts ahead of need. It listens on
 * `<state>/s/warm-<pid>` and serves berth.shim.v1.Warm until Adopt gives it a container; then it
 * moves its socket to the container's group path and is the shim `start` would have made. Until
 * then it exits when berthd goes away (its stdin, a pipe from berthd, ends).
 */
export async function serveWarm(args: ShimArgs): Promise<void> {
  if (!args.address) throw new Error('a warm shim needs -address');
  const warmPath = join(stateDir(), 's', `warm-${process.pid}`);
  const reaper = common();
  logFd = -1;
  let serving: Serving | undefined;
  let handlers: { task: grpc.UntypedServiceImplementation; events: grpc.UntypedServiceImplementation } | undefined;

  const server = new GrpcServer({ maxMessageSize });
  const taskDef = definitionOf(taskService);
  const eventsDef = definitionOf(eventsService);
  server.addService(
    taskDef,
    deferred(taskDef, () => handlers?.task),
  );
  server.addService(
    eventsDef,
    deferred(eventsDef, () => handlers?.events),
  );
  server.addService(definitionOf(warmService), {
    Adopt: (call: grpc.ServerUnaryCall<{ namespace: string; id: string; bundle: string; options: Buffer }, object>, callback: grpc.sendUnaryData<object>) => {
      const req = call.request;
      if (serving) return callback({ code: GrpcStatus.FAILED_PRECONDITION, details: 'this shim serves a container already' });
      try {
        process.chdir(req.bundle);
        const spec = JSON.parse(readFileSync(join(req.bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
        const path = socketPath(stateDir(), args.address, req.namespace, groupId(req.id, spec));
        if (existsSync(path)) return callback({ code: GrpcStatus.FAILED_PRECONDITION, details: `group socket ${path} exists: use start` });
        const optionsFile = join(req.bundle, bundleFiles.runtimeOptions);
        if (req.options.length > 0) writeFileSync(optionsFile, req.options, { mode: 0o600 });
        writeFileSync(join(req.bundle, bundleFiles.address), `unix://${path}`, { mode: 0o600 });
        const shimLog = openSync(join(req.bundle, bundleFiles.shimLog), 'a', 0o600);
        // last, so that a failure before leaves the group path free for `start`: a bound socket
        // keeps working under a new name (connections follow the inode)
        try {
          renameSync(warmPath, path);
        } catch (err) {
          closeSync(shimLog);
          throw err;
        }
        logFd = shimLog;
        const events = new EventQueue(req.namespace);
        const tasks = new TaskService(req.namespace, events, reaper);
        serving = { tasks, events, path };
        handlers = { task: args.debug ? traced(tasks.handlers()) : tasks.handlers(), events: events.handlers() };
        exitWhenDone(server, serving);
        process.stdin.destroy();
        log(`adopted ${req.namespace}/${req.id}, serving on ${path}`);
        callback(null, { address: `unix://${path}` });
      } catch (err) {
        callback({ code: GrpcStatus.INTERNAL, details: `adopt: ${(err as Error).message}` });
      }
    },
  });
  // never recursive: a warm shim that outlives a daemon whose state dir is gone must not make it again
  try {
    mkdirSync(join(stateDir(), 's'), { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      report(`state dir: ${(err as Error).message}`);
      process.exit(1);
    }
  }
  chmodSync(join(stateDir(), 's'), 0o700);
  try {
    await bind(server, warmPath);
  } catch (err) {
    report(`listen on ${warmPath}: ${(err as Error).message}`);
    process.exit(1);
  }
  // berthd holds our stdin: when it goes away before adopting us, so do we
  process.stdin.on('data', () => undefined);
  process.stdin.on('error', () => undefined);
  process.stdin.on('close', () => {
    if (serving) return;
    try {
      unlinkSync(warmPath);
    } catch {
      // gone already
    }
    process.exit(0);
  });
  report(`ok ${warmPath}`);
  preload(true);
}
