import type { Transform } from 'node:stream';
import { createGunzip, createGzip, createZstdDecompress, constants as zc } from 'node:zlib';
import { BerthError } from '../../core/errors.ts';

/**
 * Layer media types and their compression. The media type says what the blob should be; the
 * magic bytes are checked against it (containerd sniffs the magic; we refuse a mismatch, which
 * would otherwise let a "gzip" layer be applied as something else).
 */
export type Compression = 'none' | 'gzip' | 'zstd';

export const mediaTypes = {
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
} as const;

/** What the media type promises: a compression, or 'detect' when only the magic can tell. */
export function compressionOf(mediaType: string): Compression | 'detect' {
  const base = mediaType.split(';')[0]!.trim();
  switch (base) {
    case mediaTypes.ociLayer:
    case mediaTypes.ociLayerNonDistributable:
      return 'none';
    case mediaTypes.ociLayerGzip:
    case mediaTypes.dockerLayerGzip:
    case `${mediaTypes.ociLayerNonDistributable}+gzip`:
      return 'gzip';
    case mediaTypes.ociLayerZstd:
    case `${mediaTypes.ociLayerNonDistributable}+zstd`:
      return 'zstd';
    case mediaTypes.dockerLayer:
      return 'detect';
    default:
      throw new BerthError('Unimplemented', `unsupported diff media type: ${JSON.stringify(mediaType)}`);
  }
}

/** The compression the first bytes show (containerd's compression.DetectCompression). */
export function sniff(head: Buffer): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  // zstd skippable frames: 0x184D2A50 – 0x184D2A5F
  if (head.length >= 4 && (head.readUInt32LE(0) & 0xfffffff0) === 0x184d2a50) return 'zstd';
  return 'none';
}

/** Checks the magic against the media type's promise; returns the compression to use. */
export function resolveCompression(expected: Compression | 'detect', head: Buffer): Compression {
  const seen = sniff(head);
  if (expected === 'detect') return seen;
  if (seen !== expected) {
    throw new BerthError(
      'InvalidArgument',
      `invalid archive: media type says ${expected === 'none' ? 'uncompressed' : expected} but the data ${seen === 'none' ? 'is not compressed' : `is ${seen}`}`,
    );
  }
  return seen;
}

// The decompressor runs on a pool thread while the unpack child's main thread writes files: a
// few MiB of output buffered between them keeps both busy (a 148 MB layer: 0.74 -> 0.65 s).
const inflated = { chunkSize: 256 << 10, readableHighWaterMark: 4 << 20 };

export function decompressor(c: Compression): Transform | undefined {
  switch (c) {
    case 'gzip':
      return createGunzip(inflated);
    case 'zstd':
      return createZstdDecompress(inflated);
    default:
      return undefined;
  }
}

/** gzip as containerd writes layers (default level). */
export function gzipCompressor(): Transform {
  return createGzip({ level: zc.Z_DEFAULT_COMPRESSION, chunkSize: 256 << 10 });
}
