// berthd's CRI (runtime.v1) as the kubelet and crictl reach it: a grpc-js client built from the CRI
// protos alone, with no containerd namespace header, against a test berthd and Debian's
// docker-registry. Version and Status, and the image service for real.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImageService } from '../api/services.ts';
import { MediaType, type OciDescriptor } from '../core/oci/descriptor.ts';
import { hostPlatform } from '../core/platform.ts';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { parseReference } from '../core/registry/reference.ts';
import { version } from '../core/version.ts';
import type { BerthClient } from '../transport/client.ts';
import { channelOptions, loadProtoDir, lookup } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { d, f, gz, tar } from './support/layers/tarbuild.ts';
import { pushImage, type TestImage } from './support/registry/images.ts';
import { registryBinary, startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { sha, startTogether } from './support/util.ts';

/** A one-layer image whose config runs as `user`; `label` makes images differ. */
function tinyImage(label: string, user: string): TestImage & { config: OciDescriptor } {
  const blobs = new Map<string, Buffer>();
  const add = (mediaType: string, bytes: Buffer): OciDescriptor => {
    blobs.set(sha(bytes), bytes);
    return { mediaType, digest: sha(bytes), size: bytes.length };
  };
  const layerTar = tar([d('etc/'), f('etc/label', `${label}\n`)]);
  const layers = [add('application/vnd.oci.image.layer.v1.tar+gzip', gz(layerTar))];
  const config = add(
    MediaType.ociConfig,
    Buffer.from(
      JSON.stringify({ architecture: hostPlatform.architecture, os: 'linux', config: { User: user }, rootfs: { type: 'layers', diff_ids: [sha(layerTar)] } }),
    ),
  );
  const root = add(MediaType.ociManifest, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers })));
  return { root, blobs, manifests: [root], layers, config };
}

const sizeOf = (img: TestImage & { config: OciDescriptor }) => img.root.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0);

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type RawClient = grpc.Client & Record<string, (req: unknown, cb: Callback) => void>;

interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: number;
  uid: { value: number } | null;
  username: string;
  spec: { image: string; annotations: Record<string, string> } | null;
  pinned: boolean;
}

describeAsRoot('the CRI image service and runtime status (runtime.v1 over grpc-js)', [installed(registryBinary)], () => {
  let daemon: Berthd;
  let reg: TestRegistry;
  let authReg: TestRegistry;
  let dir: string;
  let runtime: RawClient;
  let images: RawClient;
  let k8s: BerthClient;
  const app = tinyImage('app', '1002:100');
  const named = tinyImage('named', 'www-data');
  const secret = tinyImage('secret', '');

  const call = <T>(client: RawClient, method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res as T))));
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('the call succeeded');
      },
      (err: grpc.ServiceError) => err,
    );
  const pull = (image: string, auth: unknown = null) => call<{ image_ref: string }>(images, 'PullImage', { image: { image }, auth });
  const status = async (image: string) => (await call<{ image: CriImage | null }>(images, 'ImageStatus', { image: { image } })).image;
  const list = async (image = '') => (await call<{ images: CriImage[] }>(images, 'ListImages', { filter: image ? { image: { image } } : null })).images;
  const remove = (image: string) => call(images, 'RemoveImage', { image: { image } });
  const recordNames = async () => (await k8s.images.List({ filters: [] })).images.map((i) => i.name).sort();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cri-'));
    mkdirSync(join(dir, 'net.d'));
    const config = join(dir, 'berthd.toml');
    writeFileSync(config, `version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\n  conf_dir = "${join(dir, 'net.d')}"\n`);
    [reg, authReg, daemon] = await startTogether([startRegistry(), startRegistry({ htpasswd: { alice: 'wonderland' } }), startBerthd(['--config', config])]);
    const plain = new RegistryClient();
    const authed = new RegistryClient({ credentials: userPass('alice:wonderland') });
    try {
      await pushImage(plain, parseReference(`${reg.host}/cri/app:v1`), app);
      await pushImage(plain, parseReference(`${reg.host}/cri/app:v2`), app);
      await pushImage(plain, parseReference(`${reg.host}/cri/named:v1`), named);
      await pushImage(authed, parseReference(`${authReg.host}/cri/secret:v1`), secret);
    } finally {
      plain.close();
      authed.close();
    }
    const tree = loadProtoDir('k8s.io/cri-api/runtime/v1');
    const Runtime = lookup<grpc.ServiceClientConstructor>(tree, 'runtime.v1.RuntimeService');
    const Images = lookup<grpc.ServiceClientConstructor>(tree, 'runtime.v1.ImageService');
    runtime = new Runtime(`unix://${daemon.address}`, grpc.credentials.createInsecure(), channelOptions) as RawClient;
    images = new Images(`unix://${daemon.address}`, grpc.credentials.createInsecure(), channelOptions) as RawClient;
    k8s = daemon.client('k8s.io');
  }, 60_000);
  afterAll(async () => {
    runtime?.close();
    images?.close();
    await daemon?.cleanup();
    await reg?.stop();
    await authReg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Version names berth, its version and CRI v1', async () => {
    expect(await call(runtime, 'Version', { version: '0.1.0' })).toEqual({
      version: '0.1.0',
      runtime_name: 'berth',
      runtime_version: version,
      runtime_api_version: 'v1',
    });
  });

  it('Status: the runtime is ready; the network once the CNI config dir has a config', async () => {
    type Conditions = { status: { conditions: Array<{ type: string; status: boolean; reason: string }> }; info: Record<string, string> };
    const conditions = async () => Object.fromEntries((await call<Conditions>(runtime, 'Status', {})).status.conditions.map((c) => [c.type, c]));
    const before = await conditions();
    expect(before.RuntimeReady).toMatchObject({ status: true });
    expect(before.NetworkReady).toMatchObject({ status: false, reason: 'NetworkPluginNotReady' });
    writeFileSync(join(dir, 'net.d', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'bridge' }] }));
    expect((await conditions()).NetworkReady).toMatchObject({ status: true, reason: '' });
    const verbose = await call<Conditions>(runtime, 'Status', { verbose: true });
    expect(JSON.parse(verbose.info.config!)).toMatchObject({ cni: { confDir: join(dir, 'net.d') }, sandboxImage: 'registry.k8s.io/pause:3.6' });
  });

  it('PullImage names the image by its reference, repo@digest and id in namespace k8s.io; ImageStatus and ListImages show it', async () => {
    const ref = `${reg.host}/cri/app:v1`;
    const repoDigest = `${reg.host}/cri/app@${app.root.digest}`;
    expect(await pull(ref)).toEqual({ image_ref: app.config.digest });
    expect(await recordNames()).toEqual([app.config.digest, ref, repoDigest].sort());
    for (const i of (await k8s.images.List({ filters: [] })).images) expect(i.labels['io.cri-containerd.image']).toBe('managed');
    expect(await daemon.client().images.List({ filters: [] })).toEqual({ images: [] });

    const expected: CriImage = {
      id: app.config.digest,
      repo_tags: [ref],
      repo_digests: [repoDigest],
      size: sizeOf(app),
      uid: { value: 1002 },
      username: '',
      spec: { image: app.config.digest, annotations: {} },
      pinned: false,
    };
    expect(await status(ref)).toEqual(expected);
    expect(await list()).toEqual([expected]);
  });

  it('a second tag of the same image is one image with two tags; ImageStatus takes any of its names, its id or a short id', async () => {
    expect(await pull(`${reg.host}/cri/app:v2`)).toEqual({ image_ref: app.config.digest });
    const image = await status(`${reg.host}/cri/app:v2`);
    expect(image?.repo_tags).toEqual([`${reg.host}/cri/app:v1`, `${reg.host}/cri/app:v2`]);
    for (const name of [
      `${reg.host}/cri/app:v1`,
      `${reg.host}/cri/app@${app.root.digest}`,
      app.config.digest,
      app.config.digest.slice(7, 19),
      app.config.digest.slice(0, 19),
    ]) {
      expect(await status(name), name).toEqual(image);
    }
    expect(await list()).toHaveLength(1);
  });

  it('a user name in the image config is username, without uid; an unknown image is an empty answer', async () => {
    await pull(`${reg.host}/cri/named:v1`);
    expect(await status(`${reg.host}/cri/named:v1`)).toMatchObject({ id: named.config.digest, uid: null, username: 'www-data' });
    expect(await call(images, 'ImageStatus', { image: { image: `${reg.host}/cri/none:v1` } })).toEqual({ image: null, info: {} });
    expect(await status('sha256:0123')).toBeNull();
  });

  it("the CRI's images stay in k8s.io whatever namespace a call names, and are there after berthd restarts", async () => {
    const before = await list();
    const other = daemon.client('default').service(ImageService);
    expect((await other.ListImages({ filter: null })).images.map((i) => i.id).sort()).toEqual(before.map((i) => i.id).sort());
    await daemon.kill();
    await daemon.restart();
    expect(await list()).toEqual(before);
  });

  it('ListImages filters by an image spec: a tag, a bare repository (all its tags), nothing known', async () => {
    expect((await list()).map((i) => i.id).sort()).toEqual([app.config.digest, named.config.digest].sort());
    expect((await list(`${reg.host}/cri/named:v1`)).map((i) => i.id)).toEqual([named.config.digest]);
    expect((await list(`${reg.host}/cri/app`)).map((i) => i.id)).toEqual([app.config.digest]);
    expect(await list(`${reg.host}/cri/none:v1`)).toEqual([]);
  });

  it('two pulls of one image side by side both succeed and name it once', async () => {
    const ref = `${reg.host}/cri/named:v1`;
    await remove(ref);
    expect(await Promise.all([pull(ref), pull(ref)])).toEqual([{ image_ref: named.config.digest }, { image_ref: named.config.digest }]);
    expect(await status(ref)).toMatchObject({ repo_tags: [ref], repo_digests: [`${reg.host}/cri/named@${named.root.digest}`] });
  });

  it('PullImage of a digest reference gives a repo digest and no tag', async () => {
    const byDigest = `${reg.host}/cri/named@${named.root.digest}`;
    await remove(`${reg.host}/cri/named:v1`);
    expect(await pull(byDigest)).toEqual({ image_ref: named.config.digest });
    expect(await status(byDigest)).toMatchObject({ repo_tags: [], repo_digests: [byDigest] });
  });

  it('ImageFsInfo counts the snapshots of the CRI images under the snapshotter root; RemoveImage takes every name and the snapshots', async () => {
    type FsInfo = {
      image_filesystems: Array<{ timestamp: number; fs_id: { mountpoint: string }; used_bytes: { value: number }; inodes_used: { value: number } }>;
    };
    const fs = async () => (await call<FsInfo>(images, 'ImageFsInfo', {})).image_filesystems;
    const [before] = await fs();
    expect(before!.fs_id.mountpoint).toBe(join(daemon.root, 'snapshots', 'overlayfs'));
    expect(before!.used_bytes.value).toBeGreaterThan(0);
    // two one-layer images: each snapshot holds etc/ and etc/label, and the snapshot's own directories
    expect(before!.inodes_used.value).toBeGreaterThanOrEqual(4);
    expect(Math.abs(before!.timestamp / 1e6 - Date.now())).toBeLessThan(60_000);

    await remove(`${reg.host}/cri/app:v1`);
    expect(await status(`${reg.host}/cri/app:v2`)).toBeNull();
    expect(await recordNames()).toEqual([named.config.digest, `${reg.host}/cri/named@${named.root.digest}`].sort());
    await remove(named.config.digest);
    expect(await recordNames()).toEqual([]);
    expect(await list()).toEqual([]);
    const [after] = await fs();
    expect(after!.used_bytes.value).toBe(0);
    expect(after!.inodes_used.value).toBe(0);
    // removing what is gone is not an error
    await remove(`${reg.host}/cri/app:v1`);
  });

  it('PullImage takes credentials from the request: username/password or auth, for server_address only when given', async () => {
    const ref = `${authReg.host}/cri/secret:v1`;
    const refused = await failure(pull(ref));
    expect(refused.code).toBe(grpc.status.UNAUTHENTICATED);
    const none = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
    expect(await pull(ref, { ...none, username: 'alice', password: 'wonderland' })).toEqual({ image_ref: secret.config.digest });
    await remove(ref);
    const auth = Buffer.from('alice:wonderland').toString('base64');
    expect(await pull(ref, { ...none, auth, server_address: `http://${authReg.host}` })).toEqual({ image_ref: secret.config.digest });
    await remove(ref);
    const elsewhere = await failure(pull(ref, { ...none, auth, server_address: 'registry.example.com' }));
    expect(elsewhere.code).toBe(grpc.status.UNAUTHENTICATED);
    const token = await failure(pull(ref, { ...none, identity_token: 'refresh-me' }));
    expect(token.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(await status(ref)).toBeNull();
  });
});
