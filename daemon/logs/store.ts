import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { unpackAnyOf } from '../../core/any.ts';
import { invalidArgument } from '../../core/errors.ts';
import { logLabel } from '../../core/spec/names.ts';
import type { Exchange } from '../events/exchange.ts';
import type { Logger } from '../log.ts';

/** Docker's usual bounds: 10 MiB a file, three files. */
export const defaultLogLimits = { maxSize: 10 * 1024 * 1024, maxFiles: 3 };

export interface ContainerLog {
  path: string;
  maxSize: number;
  maxFiles: number;
}

/** The limits a label asks for; InvalidArgument for a value that is not one. */
export function logLimitsOf(label: string): { maxSize: number; maxFiles: number } {
  let v: unknown;
  try {
    v = label === '' || label === 'true' ? {} : JSON.parse(label);
  } catch {
    throw invalidArgument(`label ${logLabel}: not JSON: ${label.slice(0, 80)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(`label ${logLabel}: not an object`);
  const { maxSize = defaultLogLimits.maxSize, maxFiles = defaultLogLimits.maxFiles, ...rest } = v as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw invalidArgument(`label ${logLabel}: unknown field ${Object.keys(rest)[0]}`);
  if (!Number.isSafeInteger(maxSize) || (maxSize as number) < 0) throw invalidArgument(`label ${logLabel}: maxSize must be a whole number of bytes`);
  if (!Number.isSafeInteger(maxFiles) || (maxFiles as number) < 1 || (maxFiles as number) > 1000)
    throw invalidArgument(`label ${logLabel}: maxFiles must be a whole number from 1 to 1000`);
  return { maxSize: maxSize as number, maxFiles: maxFiles as number };
}

/**
 * Where berthd keeps containers' logs: `<root>/logs/<namespace>/<id>/container.log` (and its
 * rotated files), removed with the container.
 */
export class LogStore {
  /** removals under way: a new container of the same id waits for its predecessor's log to go */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  pathOf(ns: string, id: string): string {
    return join(this.dir, ns, id, 'container.log');
  }

  /** The log a task of this container writes, if its labels ask for one (its directory made). */
  async prepare(ns: string, id: string, labels: Record<string, string> | undefined): Promise<ContainerLog | undefined> {
    const label = labels?.[logLabel];
    if (label === undefined) return undefined;
    const limits = logLimitsOf(label);
    const path = this.pathOf(ns, id);
    await this.removing.get(`${ns}/${id}`);
    await fs.mkdir(join(this.dir, ns, id), { recursive: true, mode: 0o700 });
    return { path, ...limits };
  }

  /** Removes a deleted container's logs (as its record goes). */
  follow(exchange: Exchange): void {
    exchange.subscribe(['topic=="/containers/delete"'], (e) => {
      let id: string;
      try {
        id = unpackAnyOf<{ id: string }>(e.event, 'containerd.events.ContainerDelete').id;
      } catch {
        return;
      }
      if (!id || id.includes('/') || id === '..' || id === '.') return;
      const key = `${e.namespace}/${id}`;
      const removed = fs
        .rm(join(this.dir, e.namespace, id), { recursive: true, force: true })
        .catch((err: Error) => this.log.warn('cannot remove a container log', { namespace: e.namespace, id, error: err.message }))
        .finally(() => {
          if (this.removing.get(key) === removed) this.removing.delete(key);
        });
      this.removing.set(key, removed);
    });
  }
}
