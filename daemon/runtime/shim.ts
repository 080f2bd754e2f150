import { spawn } from 'node:child_process';
import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { codec } from '../../api/codec.ts';
import type { TaskV2 } from '../../api/services.ts';
import { type AnyMessage, encodeAny } from '../../core/any.ts';
import { BerthError, failedPrecondition, unimplemented } from '../../core/errors.ts';
import { mknod, S_IFIFO } from '../../native/index.ts';
import type { Client } from '../../transport/typed.ts';
import type { Logger } from '../log.ts';
import type { ExitStatus } from './task.ts';

/** What every shim invocation is told (containerd's flags, docs/shim.md). */
export interface ShimInvocation {
  binary: string;
  namespace: string;
  id: string;
  bundle: string;
  /** berthd's socket */
  daemonAddress: string;
  /** what a shim without TTRPC_ADDRESS would run to publish events (berthd) */
  publishBinary: string;
}

function run(inv: ShimInvocation, args: string[], stdin: Uint8Array, timeoutMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      inv.binary,
      ['-namespace', inv.namespace, '-address', inv.daemonAddress, '-publish-binary', inv.publishBinary, '-id', inv.id, ...args],
      {
        cwd: inv.bundle,
        env: { ...process.env, TTRPC_ADDRESS: `${inv.daemonAddress}.ttrpc` },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BerthError('FailedPrecondition', `start shim ${inv.binary}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8').trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/**
 * Reads the `log` fifo in a bundle, where a containerd shim writes its log (its serving process
 * opens it for writing at start and does not run without a reader): each line goes to berthd's
 * log, errors as warnings. Made when missing; reopened after a daemon restart.
 */
export function openShimLog(bundlePath: string, log: Logger, fields: Record<string, unknown>): { close(): void } {
  const path = join(bundlePath, 'log');
  try {
    mknod(path, S_IFIFO | 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // read-write: the open does not wait for the shim, and the fifo never reads end-of-file
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  socket.on('error', () => socket.destroy());
  socket.unref();
  createInterface({ input: socket }).on('line', (line) => {
    if (/level=(error|fatal)|panic/.test(line)) log.warn('shim', { ...fields, line });
    else log.debug('shim', { ...fields, line });
  });
  return { close: () => socket.destroy() };
}

/**
 * Runs `<shim> ... start` in the bundle and returns where the shim serves ttrpc: the shim prints
 * its address, bare or as containerd's bootstrap JSON `{"version":2,"address":...,"protocol":"ttrpc"}`.
 */
export async function startShim(inv: ShimInvocation, options: AnyMessage | null | undefined): Promise<string> {
  const r = await run(inv, ['start'], encodeAny(options), 30_000);
  const output = `${r.stdout.toString('utf8').trim()}${r.stderr ? `\n${r.stderr}` : ''}`.trim();
  if (r.code !== 0) throw failedPrecondition(`start shim: ${output || `exit status ${r.code}`}`);
  if (!output.startsWith('{')) return output;
  const doc = JSON.parse(output) as { address?: string; protocol?: string };
  if (!doc.address) throw failedPrecondition(`start shim: no address in ${output}`);
  if (doc.protocol && doc.protocol !== 'ttrpc') throw unimplemented(`shim ${inv.binary} speaks ${doc.protocol}; berthd talks to shims over ttrpc`);
  return doc.address;
}

/** Runs `<shim> ... -bundle B delete`, the cleanup after a shim died; resolves with what it reports. */
export async function shimDelete(inv: ShimInvocation): Promise<ExitStatus> {
  const r = await run(inv, ['-bundle', inv.bundle, 'delete'], new Uint8Array(), 30_000);
  if (r.code !== 0) throw new BerthError('Unknown', `shim delete: ${r.stderr || `exit status ${r.code}`}`);
  const type = codec('containerd.task.v2.DeleteResponse');
  const msg = type.toObject(type.decode(r.stdout), { longs: Number, defaults: true }) as ExitStatus;
  return msg;
}

/**
 * berthd's link to one shim process (which may serve several tasks when they share a group): its
 * Task API, the tasks it serves, and the watch that notices when it dies (TtrpcShimConnection).
 */
export interface ShimLink {
  readonly address: string;
  readonly client: { readonly task: Client<typeof TaskV2> };
  readonly tasks: Set<string>;
  shimPid: number;
  /** starts watching for its death (its events come to berthd's ttrpc events server) */
  pump(): void;
  /** its last task is gone: close once the shim has exited; `closed` is told when the link is closed */
  retire(closed: () => void): void;
  /** a new task for a retiring shim: serve again; false when already closed */
  revive(): boolean;
  close(): void;
}
