// `berth-shim-runc-v2 ... start`: find or start the serving process for this container's group
// and print its address. It runs on the critical path of every task create, so it loads only
// node: built-ins.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { bundleFiles, stateEnv } from '../core/shim-contract.ts';
import { type ShimArgs, toArgv } from './args.ts';
import { groupId, socketPath, stateDir } from './paths.ts';

/** Resolves true when something accepts connections on the unix socket at path. */
export function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch (err) {
    // a closed or absent stdin means no options
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EBADF' || code === 'ENXIO' || code === 'EINVAL') return Buffer.alloc(0);
    throw err;
  }
}

export async function start(args: ShimArgs): Promise<string> {
  if (!args.namespace || !args.id || !args.address) throw new Error('start needs -namespace, -id and -address');
  const bundle = process.cwd();
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };

  const options = readStdin();
  const optionsFile = join(bundle, bundleFiles.runtimeOptions);
  if (options.length > 0) writeFileSync(optionsFile, options, { mode: 0o600 });
  else rmSync(optionsFile, { force: true });

  const state = stateDir();
  const path = socketPath(state, args.address, args.namespace, groupId(args.id, spec));
  const address = `unix://${path}`;
  mkdirSync(join(state, 's'), { recursive: true, mode: 0o700 });
  chmodSync(join(state, 's'), 0o700);

  if (!(await isListening(path))) {
    // a socket file nobody listens on is left over from a shim that died
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await spawnServer(args, bundle, state);
  }
  writeFileSync(join(bundle, bundleFiles.address), address, { mode: 0o600 });
  return JSON.stringify({ version: 2, address, protocol: 'grpc' });
}

/**
 * Starts the serving process in its own session, with stdin on /dev/null and stdout/stderr on
 * <bundle>/shim.log. It gets one more descriptor, fd 3, a pipe on which it writes "ok" (or why it
 * failed) once it listens, and which it closes right away.
 */
async function spawnServer(args: ShimArgs, bundle: string, state: string): Promise<void> {
  const log = openSync(join(bundle, bundleFiles.shimLog), 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...toArgv(args)], {
      cwd: bundle,
      detached: true,
      stdio: ['ignore', log, log, 'pipe'],
      env: { ...process.env, [stateEnv]: state },
    });
  } finally {
    closeSync(log);
  }
  const ready = child.stdio[3] as Socket;
  let said = '';
  ready.setEncoding('utf8');
  ready.on('data', (d: string) => (said += d));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit status ${code}`)));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  await Promise.race([new Promise((resolve) => ready.once('close', resolve)), spawnError]);
  said = said.trim();
  if (said === 'ok' || said === 'live') {
    child.unref();
    return;
  }
  const how = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 1000))]);
  throw new Error(`shim failed to start (${how}): ${said || `see ${join(bundle, bundleFiles.shimLog)}`}`);
}
