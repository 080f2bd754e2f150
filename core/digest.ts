import { invalidArgument } from './errors.ts';

const shapes: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

/** Parses `sha256:<64 hex>` (or sha512); anything else is InvalidArgument. */
export function parseDigest(digest: string): ParsedDigest {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const shape = shapes[algorithm];
  if (colon < 0 || !shape) throw invalidArgument(`digest "${digest}": unsupported digest algorithm`);
  if (!shape.test(hex)) throw invalidArgument(`digest "${digest}": invalid checksum digest format`);
  return { algorithm: algorithm as ParsedDigest['algorithm'], hex };
}

export function isDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}
