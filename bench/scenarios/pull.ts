import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { isCode } from '../../core/errors.ts';
import { MediaType, type OciDescriptor } from '../../core/oci/image.ts';
import { RegistryClient } from '../../core/registry/client.ts';
import { parseReference } from '../../core/registry/reference.ts';
import { pushImage, type TestImage } from '../../test/support/registry/images.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry/registry.ts';
import type { BerthClient } from '../../transport/client.ts';
import { collect } from '../../transport/typed.ts';
import { Cleanup } from '../cleanup.ts';
import { sha256 } from '../content.ts';
import type { Scenario } from '../scenario.ts';
import { type Daemon, repo, syncDisks } from '../setup.ts';
import { fmt, type Measurement } from '../stats.ts';

/**
 * Cold pull + unpack of a ~120 MB (uncompressed) image from a local registry (Debian's
 * docker-registry on 127.0.0.1, storage on the scratch filesystem), through each daemon's own
 * CLI: `berth images pull` (berthd's server-side Pull) and `ctr images pull` (containerd 1.6:
 * ctr fetches through the content API, the daemon unpacks). Timed: the whole command, wall
 * clock, process start to exit. Two variants of the same files: one layer, and five layers.
 * Before every timed pull the image is removed with `images rm --sync` (a GC that takes its
 * blobs and snapshots); the bench then checks that no layer blob and no snapshot is left, and
 * deletes any that are (saying so), so every pull starts cold.
 */
const ns = 'bench-pull';
const snapshotter = 'overlayfs';
const layerType = 'application/vnd.oci.image.layer.v1.tar+gzip';
const targetBytes = 120e6;
const sources = ['/usr/lib/x86_64-linux-gnu', '/usr/bin'];

interface Variant {
  name: string;
  tag: string;
  image: TestImage;
  uncompressed: number;
}

interface State {
  registry: TestRegistry;
  variants: Variant[];
  cleanup: Cleanup;
}

let state: Promise<State> | undefined;

/** Resets the process's peak RSS (VmHWM), so that the next reading is this pull's peak. */
function resetPeakRss(pid: number) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** The peak RSS since the last reset, in MiB (ctr fetches in its own process; containerd's figure is its unpack). */
function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}
let roundsDone = 0;

/**
 * Regular files and symlinks under `sources`, sorted, then a spread of them whose sizes add up
 * to ~120 MB: a spread of the host's binaries and libraries (no file over 8 MB), gzip ~2.4x.
 */
function pickFiles(): { files: string[]; bytes: number } {
  const all: Array<{ path: string; size: number }> = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() || e.isSymbolicLink()) {
        const size = e.isFile() ? lstatSync(p).size : 0;
        if (size <= 8 << 20) all.push({ path: p.slice(1), size });
      }
    }
  };
  for (const s of sources) walk(s);
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const total = all.reduce((n, f) => n + f.size, 0);
  if (total < targetBytes) throw new Error(`only ${fmt(total / 1e6)} MB of files under ${sources.join(' ')}`);
  // keep the bytes taken so far at targetBytes/total of the bytes seen so far
  const r = targetBytes / total;
  let seen = 0;
  let taken = 0;
  const files = all.filter((f) => {
    seen += f.size;
    const take = taken + f.size / 2 <= seen * r;
    if (take) taken += f.size;
    return take;
  });
  return { files: files.map((f) => f.path), bytes: files.reduce((n, f) => n + f.size, 0) };
}

/** A tar (GNU tar, reproducible) of `files` (relative to /) with every parent directory. */
function tarOf(files: string[]): Buffer {
  const dirs = new Set<string>();
  for (const f of files) for (let d = dirname(f); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
  const list = [...[...dirs].sort(), ...files].join('\0');
  const r = spawnSync(
    'tar',
    [
      '-C',
      '/',
      '--no-recursion',
      '--null',
      '-T',
      '-',
      '--sort=name',
      '--mtime=2026-01-01',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=posix',
      '--pax-option=delete=atime,delete=ctime',
      '-cf',
      '-',
    ],
    { input: list, maxBuffer: 1 << 30, timeout: 120_000 },
  );
  if (r.error) throw new Error(`tar: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tar failed (${r.status ?? r.signal}): ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** An OCI image (manifest, config with diff IDs, gzip layers) in the shape test/registry pushes. */
async function ociImage(tars: Buffer[]): Promise<TestImage> {
  const blobs = new Map<string, Buffer>();
  const add = (mediaType: string, bytes: Buffer): OciDescriptor => {
    const digest = sha256(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const gzipped = await Promise.all(tars.map((t) => promisify(gzip)(t)));
  const layers = gzipped.map((g) => add(layerType, g));
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: tars.map(sha256) },
    history: tars.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth bench' })),
  };
  const configDesc = add(MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers };
  const root = add(MediaType.ociManifest, Buffer.from(JSON.stringify(manifest, null, 2)));
  return { root, blobs, manifests: [root], layers };
}

/** Splits the files into `n` runs of about equal bytes, in order. */
function split(files: string[], n: number): string[][] {
  const sizes = files.map((f) => lstatSync(join('/', f)).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const parts: string[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  files.forEach((f, i) => {
    parts[Math.min(n - 1, Math.floor((acc / total) * n))].push(f);
    acc += sizes[i];
  });
  return parts;
}

/** Once for both daemons: build both variants, start the registry on the scratch fs, push. */
async function prepareOnce(daemon: Daemon): Promise<State> {
  const cleanup = new Cleanup();
  // The bench's Cleanup instance is not reachable from a scenario: this one stops the registry
  // and removes its directory after the last round, or when a round fails. On a signal, or a
  // failure elsewhere, test/registry/registry.ts kills it and removes the directory on exit.
  const { files, bytes } = pickFiles();
  const whole = tarOf(files);
  const parts = split(files, 5).map(tarOf);
  const [one, five] = await Promise.all([ociImage([whole]), ociImage(parts)]);
  const gz = (img: TestImage) => img.layers.reduce((n, l) => n + l.size, 0);
  console.log(
    `  image: ${files.length} files (${fmt(bytes / 1e6)} MB) from ${sources.join(' + ')}; tar ${fmt(whole.length / 1e6)} MB, gzip ${fmt(gz(one) / 1e6)} MB in 1 layer, ${fmt(gz(five) / 1e6)} MB in 5 (${five.layers.map((l) => fmt(l.size / 1e6)).join(' + ')})`,
  );

  // The registry's storage goes on the scratch fs: mkdtemp(tmpdir()) runs before its first await.
  const mnt = dirname(dirname(daemon.root));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = mnt;
  const started = startRegistry();
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
  const registry = await started;
  cleanup.add('stop the registry', () => registry.stop());

  const variants: Variant[] = [
    { name: '1 layer', tag: 'one', image: one, uncompressed: whole.length },
    { name: '5 layers', tag: 'five', image: five, uncompressed: parts.reduce((n, p) => n + p.length, 0) },
  ];
  const client = new RegistryClient({ hosts: { plainHttp: true } });
  try {
    for (const v of variants) await pushImage(client, parseReference(`${registry.host}/bench/pull:${v.tag}`), v.image);
  } finally {
    client.close();
  }
  console.log(`  registry: ${registry.url}, storage ${registry.dir}`);
  return { registry, variants, cleanup };
}

function cli(daemon: Daemon, args: string[]): string[] {
  return daemon.name === 'containerd'
    ? ['ctr', '--address', daemon.address, '--namespace', ns, ...args]
    : [join(repo, 'bin', 'berth'), '--address', daemon.address, '--namespace', ns, ...args];
}

/** Runs a command to completion; returns its wall-clock time in ms, throws with its output. */
async function run(argv: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-4096);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, sig) => resolve(c ?? sig ?? 'unknown'));
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (${code}): ${out.trim()}`);
  return ms;
}

const notFound = (err: unknown) => isCode(err, 'NotFound') || (err as { code?: unknown }).code === 5;

/** What is still in the daemon: which of these blobs, and every snapshot of the namespace. */
async function leftovers(client: BerthClient, digests: string[]) {
  const blobs: string[] = [];
  for (const digest of digests) {
    const found = await client.content.Info({ digest }).then(
      () => true,
      (err: unknown) => {
        if (notFound(err)) return false;
        throw err;
      },
    );
    if (found) blobs.push(digest);
  }
  const pages = await collect(client.snapshots.List({ snapshotter }));
  const snapshots = pages.flatMap((p) => p.info ?? []);
  return { blobs, snapshots };
}

const refOf = (registry: TestRegistry, v: Variant) => `${registry.host}/bench/pull:${v.tag}`;

/** Removes both images (`images rm --sync`), then makes sure no blob or snapshot of them is left. */
async function makeCold(daemon: Daemon, variants: Variant[], registry: TestRegistry, progress: (line: string) => void) {
  for (const v of variants) {
    await run(cli(daemon, ['images', 'rm', '--sync', refOf(registry, v)])).catch((err: Error) => {
      if (!/not found/i.test(err.message)) throw err;
    });
  }
  const digests = variants.flatMap((v) => [...v.image.blobs.keys()]);
  const client = daemon.client(ns);
  try {
    let left = await leftovers(client, digests);
    if (left.blobs.length || left.snapshots.length) {
      progress(`images rm --sync left ${left.blobs.length} blob(s), ${left.snapshots.length} snapshot(s): removing them`);
      // leaves first: a snapshot that is no other's parent
      for (let snaps = left.snapshots; snaps.length; ) {
        const parents = new Set(snaps.map((s) => s.parent).filter(Boolean));
        const leaves = snaps.filter((s) => !parents.has(s.name));
        for (const s of leaves) await client.snapshots.Remove({ snapshotter, key: s.name });
        snaps = snaps.filter((s) => parents.has(s.name));
      }
      for (const digest of left.blobs) await client.content.Delete({ digest }).catch((err: unknown) => (notFound(err) ? undefined : Promise.reject(err)));
      left = await leftovers(client, digests);
      if (left.blobs.length || left.snapshots.length)
        throw new Error(`${daemon.name} still has ${left.blobs.length} blob(s) and ${left.snapshots.length} snapshot(s) of the images`);
    }
  } finally {
    client.close();
  }
  syncDisks();
}

/** CPU seconds the whole machine has spent (every process, user and system), from /proc/stat. */
function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: all but idle and iowait are work
  const busy = fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
  return busy / 100; // USER_HZ
}

async function pullOnce(daemon: Daemon, st: State, v: Variant, progress: (line: string) => void): Promise<{ ms: number; cpu: number }> {
  await makeCold(daemon, st.variants, st.registry, progress);
  const ref = refOf(st.registry, v);
  const image = v.image;
  const cpu0 = machineCpuSeconds();
  const ms = await run(cli(daemon, ['images', 'pull', '--plain-http', ref]));
  const cpu = machineCpuSeconds() - cpu0;
  const client = daemon.client(ns);
  try {
    const left = await leftovers(client, [...image.blobs.keys()]);
    if (left.blobs.length !== image.blobs.size || left.snapshots.length < image.layers.length) {
      throw new Error(`${daemon.name}: after pulling ${ref}: ${left.blobs.length} of ${image.blobs.size} blobs, ${left.snapshots.length} snapshots`);
    }
  } finally {
    client.close();
  }
  syncDisks();
  return { ms, cpu };
}

export const pull: Scenario = {
  name: 'pull',
  summary: 'seconds for a cold `images pull` (fetch + unpack) of a ~120 MB image from a local registry, 1 and 5 layers',

  async prepare(daemon: Daemon) {
    state ??= prepareOnce(daemon);
    const st = await state;
    // untimed: each daemon's first pull on a fresh filesystem is slower
    for (const v of st.variants) await pullOnce(daemon, st, v, () => {});
  },

  async round(daemon, opts, progress) {
    const st = await state!;
    const { variants, cleanup } = st;
    const out: Measurement[] = [];
    try {
      for (const v of variants) {
        resetPeakRss(daemon.pid);
        const { ms, cpu } = await pullOnce(daemon, st, v, progress);
        out.push({ metric: `pull ${v.name} (${fmt(v.uncompressed / 1e6)} MB)`, unit: 's', better: 'lower', value: ms / 1000 });
        out.push({ metric: `machine CPU, pull ${v.name} (s)`, unit: 's', better: 'lower', value: cpu });
        out.push({ metric: `daemon peak RSS, pull ${v.name} (MiB)`, unit: 'MiB', better: 'lower', value: peakRssMiB(daemon.pid) });
      }
    } catch (err) {
      await cleanup.run();
      throw err;
    }
    progress(out.map((m) => `${m.metric}: ${fmt(m.value)}${m.unit === 's' ? ' s' : ''}`).join(', '));
    // the last round of the last daemon: tear the registry down
    if (++roundsDone === opts.rounds * 2) await cleanup.run();
    return out;
  },
};
