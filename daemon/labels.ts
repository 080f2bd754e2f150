import { invalidArgument } from '../core/errors.ts';

export type Labels = Record<string, string>;

const maxLabelSize = 4096;

/** containerd's rule: a key plus its value take at most 4096 bytes. */
export function validateLabels(labels: Labels | undefined): Labels {
  const out: Labels = Object.create(null);
  for (const [key, value] of Object.entries(labels ?? {})) {
    const size = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (size > maxLabelSize) {
      throw invalidArgument(`label key and value length (${size} bytes) greater than maximum size (${maxLabelSize} bytes), key: ${key.slice(0, 64)}`);
    }
    if (key === '') throw invalidArgument('label key must not be empty');
    out[key] = value;
  }
  return { ...out };
}

/**
 * Applies an update field mask to a label map: `labels` replaces the map, `labels.<key>` sets one
 * key (an empty value removes it). With no mask the whole map is replaced. Other paths are left
 * to the caller through `other`, which must throw for paths it does not know.
 */
export function updateLabels(current: Labels, next: Labels, paths: readonly string[], other?: (path: string) => void): Labels {
  next = validateLabels(next);
  if (paths.length === 0) return dropEmpty(next);
  let result = { ...current };
  for (const path of paths) {
    if (path === 'labels') {
      result = { ...next };
    } else if (path.startsWith('labels.')) {
      const key = path.slice('labels.'.length);
      const value = next[key];
      if (value === undefined || value === '') delete result[key];
      else result[key] = value;
    } else if (other) {
      other(path);
    } else {
      throw invalidArgument(`cannot update "${path}" field`);
    }
  }
  return validateLabels(dropEmpty(result));
}

function dropEmpty(labels: Labels): Labels {
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
}
