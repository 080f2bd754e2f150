/** A fuzz target: one parser of hostile input and what must hold for any input. */
export interface FuzzTarget {
  name: string;
  /** throws when a property fails; a module's own refusal of bad input is caught inside */
  fuzz(data: Buffer): void;
  /** tokens the mutator inserts (keywords, magic numbers) */
  dictionary?: string[];
  /** removes what the target made to run (temporary files) */
  close?(): void;
  /** packages in node_modules whose coverage guides the fuzzer too */
  alsoCover?: string[];
  /** the longest input tried; 4096 by default */
  maxLength?: number;
}

/** Every target, by name; each module is loaded only when asked for. */
export const targets: Record<string, () => Promise<FuzzTarget>> = {
  'h2-frames': async () => (await import('./h2-frames.ts')).target,
  hpack: async () => (await import('./hpack.ts')).target,
  'grpc-messages': async () => (await import('./grpc-messages.ts')).target,
  tar: async () => (await import('./tar.ts')).target,
  filters: async () => (await import('./filters.ts')).target,
  reference: async () => (await import('./reference.ts')).target,
  config: async () => (await import('./config.ts')).target,
  hosts: async () => (await import('./hosts.ts')).target,
  'ttrpc-frames': async () => (await import('./ttrpc-frames.ts')).target,
  'run-spec': async () => (await import('./run-spec.ts')).target,
};

/** Asserts `ok`, with a message saying which property failed. */
export function check(ok: boolean, property: string, detail?: unknown): asserts ok {
  if (!ok) throw new PropertyError(`${property}${detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
}

export class PropertyError extends Error {
  override name = 'PropertyError';
}

/** Runs `parse`; an error of the module's own type is the expected refusal, anything else fails. */
export function refusesOnlyWith<T>(parse: () => T, isOwnError: (err: unknown) => boolean): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (isOwnError(err)) return undefined;
    throw err;
  }
}
