import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { AnyService } from '../api/service.ts';
import type { HandlersOf } from '../transport/typed.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

/**
 * A plugin is one piece of the daemon (a store, a collector, a gRPC service). It names its type
 * and id, the plugin types it needs, and an init function that builds it. The daemon starts the
 * plugins in dependency order; a plugin that fails is reported (introspection lists it) and only
 * stops the daemon when the configuration marks it as required.
 */
export interface Plugin<T = unknown> {
  type: string;
  id: string;
  /** plugin types that must be initialised first */
  requires?: string[];
  /** the daemon cannot run without it (e.g. the metadata database), whatever the config says */
  required?: boolean;
  init(ctx: InitContext): Promise<T>;
  /** called once every plugin is initialised, e.g. to start background work that needs them all */
  ready?(instance: T): void;
}

/** Where services are added (berthd's server, transport/grpc/server.ts): a service of api/services.ts and its handlers. */
export interface ServiceRegistrar {
  addService<S extends AnyService>(service: S, handlers: HandlersOf<S>): void;
}

/** What a gRPC service plugin returns: it adds its handlers to the server. */
export interface GrpcService {
  register(server: ServiceRegistrar): void;
  /** called once the daemon listens, with the full names of every service it serves */
  serving?(services: readonly string[]): void;
  /** ends long-lived calls (e.g. event subscriptions) so that shutdown need not wait for them */
  drain?(): void;
}

export const PluginType = {
  metadata: 'io.containerd.metadata.v1',
  event: 'io.containerd.event.v1',
  content: 'io.containerd.content.v1',
  snapshotter: 'io.containerd.snapshotter.v1',
  gc: 'io.containerd.gc.v1',
  lease: 'io.containerd.lease.v1',
  grpc: 'io.containerd.grpc.v1',
  service: 'io.containerd.service.v1',
  internal: 'io.containerd.internal.v1',
  runtime: 'io.containerd.runtime.v2',
} as const;

/** A gRPC service plugin over the one initialised plugin of another type (or the one with depId). */
export function grpcServicePlugin<T>(id: string, dependency: string, make: (dep: T) => GrpcService, depId?: string): Plugin<GrpcService> {
  return {
    type: PluginType.grpc,
    id,
    requires: [dependency],
    async init(ctx) {
      return make(ctx.get<T>(dependency, depId));
    },
  };
}

/** A plugin that does not apply here (e.g. a filesystem feature missing) throws this. */
export class SkipPlugin extends Error {
  constructor(reason: string) {
    super(`skip plugin: ${reason}`);
  }
}

export interface PluginState {
  type: string;
  id: string;
  requires: string[];
  exports: Record<string, string>;
  capabilities: string[];
  platforms: Array<{ os: string; architecture: string; variant: string }>;
  error?: { message: string; skipped: boolean };
  instance?: unknown;
}

export class InitContext {
  readonly exports: Record<string, string> = {};
  readonly capabilities: string[] = [];
  /** platforms the plugin serves (snapshotters and runtimes set these) */
  readonly platforms: Array<{ os: string; architecture: string; variant: string }> = [];

  constructor(
    readonly plugin: Plugin,
    readonly config: Config,
    readonly log: Logger,
    private readonly registry: PluginRegistry,
  ) {}

  /** The plugin's own settings: [plugins."<type>.<id>"] in the config file. */
  get settings(): Record<string, unknown> {
    return (this.config.plugins[`${this.plugin.type}.${this.plugin.id}`] ?? {}) as Record<string, unknown>;
  }

  /** The one initialised plugin of a type (or the one with this id). */
  get<T>(type: string, id?: string): T {
    const found = this.registry.states.filter((s) => s.type === type && (id === undefined || s.id === id) && s.instance !== undefined);
    if (found.length === 0) throw new Error(`no initialised plugin of type ${type}${id ? ` with id ${id}` : ''}`);
    return found[0].instance as T;
  }

  /** Every initialised plugin of a type, by id. */
  getAll<T>(type: string): Map<string, T> {
    return new Map(this.registry.states.filter((s) => s.type === type && s.instance !== undefined).map((s) => [s.id, s.instance as T]));
  }

  /** A directory of the plugin's own under the persistent root, created 0700. */
  async rootDir(name: string): Promise<string> {
    const dir = join(this.config.root, name);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}

export class PluginRegistry {
  readonly states: PluginState[] = [];
  private readonly plugins: Plugin[] = [];

  register(plugin: Plugin) {
    if (this.plugins.some((p) => p.type === plugin.type && p.id === plugin.id)) {
      throw new Error(`plugin ${plugin.type}.${plugin.id} registered twice`);
    }
    this.plugins.push(plugin);
  }

  /** Initialises every enabled plugin in dependency order. */
  async initAll(config: Config, log: Logger): Promise<void> {
    for (const plugin of this.ordered()) {
      const name = `${plugin.type}.${plugin.id}`;
      const state: PluginState = { type: plugin.type, id: plugin.id, requires: plugin.requires ?? [], exports: {}, capabilities: [], platforms: [] };
      this.states.push(state);
      if (config.disabled_plugins.includes(name)) {
        state.error = { message: 'skip plugin: disabled by configuration', skipped: true };
        continue;
      }
      const missing = (plugin.requires ?? []).filter((t) => !this.states.some((s) => s.type === t && s.instance !== undefined));
      const ctx = new InitContext(plugin, config, log.child({ plugin: name }), this);
      try {
        if (missing.length > 0) throw new Error(`required plugin types not available: ${missing.join(', ')}`);
        state.instance = await plugin.init(ctx);
        Object.assign(state.exports, ctx.exports);
        state.capabilities.push(...ctx.capabilities);
        state.platforms.push(...ctx.platforms);
        log.debug('plugin loaded', { plugin: name });
      } catch (err) {
        const skipped = err instanceof SkipPlugin;
        state.error = { message: (err as Error).message, skipped };
        if (plugin.required || config.required_plugins.includes(name)) throw new Error(`required plugin ${name} failed to load: ${(err as Error).message}`);
        (skipped ? log.info : log.warn)('plugin not loaded', { plugin: name, error: (err as Error).message });
      }
    }
  }

  /** Tells every initialised plugin that the daemon is complete. */
  ready() {
    for (const plugin of this.plugins) {
      const state = this.states.find((s) => s.type === plugin.type && s.id === plugin.id);
      if (state?.instance !== undefined) plugin.ready?.(state.instance);
    }
  }

  /** Topological order over `requires` (types), keeping registration order where free. */
  private ordered(): Plugin[] {
    const out: Plugin[] = [];
    const state = new Map<Plugin, 'visiting' | 'done'>();
    const visit = (p: Plugin, path: string[]) => {
      if (state.get(p) === 'done') return;
      if (state.get(p) === 'visiting') throw new Error(`plugin dependency cycle: ${[...path, p.type].join(' -> ')}`);
      state.set(p, 'visiting');
      for (const type of p.requires ?? []) {
        for (const dep of this.plugins.filter((q) => q.type === type && q !== p)) visit(dep, [...path, p.type]);
      }
      state.set(p, 'done');
      out.push(p);
    };
    for (const p of this.plugins) visit(p, []);
    return out;
  }
}
