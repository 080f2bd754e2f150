import type { ImageConfig } from './types.ts';

/**
 * The `config` object of an image config blob, checked: it is data from a registry, so the fields
 * the spec uses must have the types it needs. Errors name the image.
 */
export function parseImageConfig(name: string, bytes: Uint8Array): ImageConfig {
  let doc: { config?: ImageConfig };
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { config?: ImageConfig };
  } catch (err) {
    throw new Error(`image "${name}": its config is not valid JSON: ${(err as Error).message}`);
  }
  const config = doc && typeof doc === 'object' && doc.config && typeof doc.config === 'object' ? doc.config : {};
  checkImageConfig(name, config);
  return config;
}

function checkImageConfig(name: string, config: ImageConfig) {
  const strings = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
  for (const key of ['Env', 'Entrypoint', 'Cmd'] as const) {
    if (!strings(config[key])) throw new Error(`image "${name}": config ${key} is not a list of strings`);
  }
  for (const key of ['User', 'WorkingDir', 'StopSignal'] as const) {
    if (config[key] !== undefined && config[key] !== null && typeof config[key] !== 'string') throw new Error(`image "${name}": config ${key} is not a string`);
  }
  if (
    config.Labels !== undefined &&
    config.Labels !== null &&
    (typeof config.Labels !== 'object' || Object.values(config.Labels).some((v) => typeof v !== 'string'))
  ) {
    throw new Error(`image "${name}": config Labels is not a map of strings`);
  }
  if (config.Volumes !== undefined && config.Volumes !== null && (typeof config.Volumes !== 'object' || Array.isArray(config.Volumes))) {
    throw new Error(`image "${name}": config Volumes is not a map`);
  }
}
