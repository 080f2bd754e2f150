import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalizePlatform } from '../platform.ts';
import { MediaType, type OciDescriptor } from './descriptor.ts';
import { chainId, checkImage, imagePlatforms, imageSize, resolveManifest } from './image.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A content store in a Map, and a way to put JSON blobs in it. */
function store() {
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, value: unknown, extra: Partial<OciDescriptor> = {}): OciDescriptor => {
    const bytes = Buffer.from(JSON.stringify(value));
    blobs.set(sha(bytes), bytes);
    return { mediaType, digest: sha(bytes), size: bytes.length, ...extra };
  };
  const read = async (d: OciDescriptor) => blobs.get(d.digest);
  const has = async (d: OciDescriptor) => blobs.has(d.digest);
  return { blobs, put, read, has };
}

const layer = (n: number): OciDescriptor => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(`layer ${n}`), size: 100 * n });

describe('image trees', () => {
  it('normalises platforms as containerd does', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  it('computes chain IDs', () => {
    const a = sha('a');
    const b = sha('b');
    expect(chainId([a])).toBe(a);
    expect(chainId([a, b])).toBe(sha(`${a} ${b}`));
    expect(chainId([a, b, a])).toBe(sha(`${sha(`${a} ${b}`)} ${a}`));
  });

  it('picks the manifest for a platform through nested indexes, sizes and lists platforms', async () => {
    const s = store();
    const arm = { os: 'linux', architecture: 'arm64' };
    const amd = { os: 'linux', architecture: 'amd64' };
    const config = s.put(MediaType.ociConfig, { os: 'linux', architecture: 'amd64', rootfs: { diff_ids: [] } });
    const manifest = s.put(MediaType.ociManifest, { config, layers: [layer(1), layer(2)] });
    const noPlatform = s.put(MediaType.dockerManifest, { config, layers: [layer(3)] });
    const inner = s.put(MediaType.ociIndex, { manifests: [{ ...manifest, platform: amd }] });
    const index = s.put(MediaType.dockerList, {
      manifests: [noPlatform, { mediaType: MediaType.ociManifest, digest: sha('arm'), size: 5, platform: arm }, { ...inner, platform: amd }],
    });
    const m = await resolveManifest(s.read, index, amd);
    // a manifest naming no platform comes after those that match
    expect(m.path.map((d) => d.digest)).toEqual([index.digest, inner.digest, manifest.digest]);
    expect(await imageSize(s.read, index, amd)).toBe(index.size + inner.size + manifest.size + config.size + 300);
    expect(await imagePlatforms(s.read, index)).toEqual(['linux/amd64', 'linux/arm64']);
    // arm's manifest is not stored: its check finds the image unavailable
    expect(await checkImage(s.read, s.has, index, arm)).toMatchObject({ available: false, missing: [index] });
    expect(await checkImage(s.read, s.has, index, amd)).toMatchObject({ available: true, present: [config], missing: [layer(1), layer(2)] });
    // for windows only the platform-less manifest is left, and its config says linux
    await expect(resolveManifest(s.read, index, { os: 'windows', architecture: 'amd64' })).rejects.toMatchObject({ code: 'NotFound' });
    const other = s.put(MediaType.ociIndex, { manifests: [noPlatform] });
    expect((await resolveManifest(s.read, other, amd)).manifest).toEqual(noPlatform);
  });

  it('refuses unknown roots and oversized JSON', async () => {
    const s = store();
    await expect(resolveManifest(s.read, layer(1))).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(resolveManifest(s.read, { mediaType: MediaType.ociIndex, digest: sha('x'), size: 5 << 20 })).rejects.toMatchObject({
      code: 'FailedPrecondition',
    });
    await expect(resolveManifest(s.read, { mediaType: MediaType.ociIndex, digest: sha('x'), size: 5 })).rejects.toMatchObject({ code: 'NotFound' });
  });
});
