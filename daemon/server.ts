import { promises as fs } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { maxMessageSize } from '../api/codec.ts';
import { BerthError, failedPrecondition } from '../core/errors.ts';
import { GrpcServer } from '../transport/grpc/server.ts';
import type { Config } from './config.ts';
import { daemonClaims, lockExclusive } from './exclusive.ts';
import type { Logger } from './log.ts';
import { type GrpcService, PluginType, type ServiceRegistrar } from './plugin.ts';
import { builtinPlugins } from './plugins.ts';

export interface Daemon {
  /** Stops accepting calls, lets running ones finish (up to graceMs), then closes every plugin. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts berthd: creates its directories and locks them and the socket path (before any plugin
 * reads or removes anything there), initialises the plugins and serves the socket.
 */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  await fs.mkdir(config.root, { recursive: true, mode: 0o700 });
  await fs.mkdir(config.state, { recursive: true, mode: 0o711 });
  await fs.mkdir(dirname(config.address), { recursive: true, mode: 0o711 });
  const locks = lockExclusive(daemonClaims(config));

  const registry = builtinPlugins();
  const instances = () =>
    registry.states
      .map((s) => s.instance)
      .filter((i) => i !== undefined)
      .reverse();
  const closeAll = async () => {
    for (const instance of instances()) {
      const close = (instance as { close?: () => unknown; stop?: () => unknown }).close ?? (instance as { stop?: () => unknown }).stop;
      if (typeof close === 'function')
        await Promise.resolve(close.call(instance)).catch((err) => log.warn('plugin close failed', { error: (err as Error).message }));
    }
    locks.release();
  };
  try {
    await registry.initAll(config, log);
    registry.ready();
    await claimSocket(config.address);
  } catch (err) {
    await closeAll();
    throw err;
  }

  const server = new GrpcServer({ maxMessageSize });
  const grpcServices = registry.states.filter((s) => s.type === PluginType.grpc && s.instance).map((s) => s.instance as GrpcService);
  const served: string[] = [];
  const registrar: ServiceRegistrar = {
    addService(service, handlers) {
      served.push(service.name);
      server.addService(service, handlers);
    },
  };
  for (const service of grpcServices) service.register(registrar);
  // The socket must never exist with looser permissions than 0660, so bind under a umask.
  const umask = process.umask(0o117);
  try {
    await server.listen(config.address);
  } catch (err) {
    await closeAll();
    throw new BerthError('Unavailable', `cannot listen on ${config.address}: ${(err as Error).message}`);
  } finally {
    process.umask(umask);
  }
  await fs.chmod(config.address, 0o660);
  if (config.uid !== 0 || config.gid !== 0) await fs.chown(config.address, config.uid, config.gid);
  for (const service of grpcServices) service.serving?.(served);
  log.info('berthd serving', { address: config.address, root: config.root, state: config.state, pid: process.pid });

  return {
    async shutdown(graceMs = 10_000) {
      for (const service of grpcServices) service.drain?.();
      let force: NodeJS.Timeout | undefined;
      await Promise.race([server.shutdown(), new Promise<void>((resolve) => (force = setTimeout(resolve, graceMs)))]);
      clearTimeout(force);
      server.forceShutdown();
      await fs.rm(config.address, { force: true });
      await closeAll();
      log.info('berthd stopped');
    },
  };
}

/**
 * A socket file left by a daemon that died is removed; one that answers belongs to a running
 * daemon, and starting a second one on it is refused.
 */
async function claimSocket(address: string): Promise<void> {
  const st = await fs.lstat(address).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw failedPrecondition(`${address} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const sock = connect(address);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
  if (alive) throw failedPrecondition(`another daemon is already listening on ${address}`);
  await fs.rm(address, { force: true });
}
