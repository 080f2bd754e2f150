import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as grpc from '@grpc/grpc-js';
import { RuntimeService } from '../../api/services.ts';
import { grpcClient } from '../../test/support/grpc-js.ts';
import { buildRunImage, storeRunImage } from '../../test/support/run-image.ts';
import type { Scenario } from '../scenario.ts';
import { benchSandboxImage, type Daemon } from '../setup.ts';
import type { Measurement } from '../stats.ts';

/**
 * Pod start through each daemon's CRI plugin, as the kubelet starts a pod of one container (its
 * namespace options: pid CONTAINER): RunPodSandbox (a netns, CNI ADD of a bridge network; on
 * containerd a pause too), CreateContainer and StartContainer of a busybox `sleep`, timed from
 * the first call's start to the last call's answer by one grpc-js client; the pod is stopped and
 * removed after each, untimed. With --crictl, each round also times as many pods started through
 * crictl (`runp`, `create`, `start`: three processes).
 */
const execFileP = promisify(execFile);
const ns = 'k8s.io';
const podsPerRound = 10;
const settleMs = 200;
const containerImage = 'berth.bench/busybox:1';
let serial = 0;

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type CriClient = grpc.Client & Record<string, (req: unknown, cb: Callback) => void>;

const call = <T>(c: CriClient, method: string, req: unknown): Promise<T> =>
  new Promise((resolve, reject) => c[method]!(req, (err, res) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(res as T))));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Unpacks an image in k8s.io for the daemon's overlayfs snapshotter: `ctr run --rm` of it once. */
function unpack(d: Daemon, image: string): void {
  const r = spawnSync('ctr', ['--address', d.address, '-n', ns, 'run', '--rm', image, `unpack-${d.name}-${serial++}`, 'true'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${d.name}: ctr run ${image}: ${r.stderr}`);
}

const podConfig = (name: string) => ({
  metadata: { name, uid: `uid-${name}`, namespace: 'bench', attempt: 0 },
  hostname: name,
  log_directory: '',
  linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
});
const containerConfig = { metadata: { name: 'main', attempt: 0 }, image: { image: containerImage }, command: ['sleep', '100000'], linux: {} };

/** Each call's time of one pod start (ms). */
interface Steps {
  run: number;
  create: number;
  start: number;
}

async function startPod(c: CriClient, name: string, steps?: Steps[]): Promise<string> {
  const config = podConfig(name);
  const t0 = performance.now();
  const { pod_sandbox_id: pod } = await call<{ pod_sandbox_id: string }>(c, 'RunPodSandbox', { config, runtime_handler: '' });
  const t1 = performance.now();
  const container = containerConfig;
  try {
    const { container_id: id } = await call<{ container_id: string }>(c, 'CreateContainer', { pod_sandbox_id: pod, config: container, sandbox_config: config });
    const t2 = performance.now();
    await call(c, 'StartContainer', { container_id: id });
    steps?.push({ run: t1 - t0, create: t2 - t1, start: performance.now() - t2 });
  } catch (err) {
    await removePod(c, pod).catch(() => undefined);
    throw err;
  }
  return pod;
}

/** The same pod started by three crictl processes, as a user starts one; answers the pod's id. */
async function startPodWithCrictl(crictl: string, d: Daemon, name: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-crictl-'));
  try {
    const pod = join(dir, 'pod.json');
    const container = join(dir, 'container.json');
    // crictl reads Go's JSON of the CRI types: enums as numbers (NamespaceMode POD 0, CONTAINER 1)
    const config = podConfig(name);
    writeFileSync(pod, JSON.stringify({ ...config, linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } } }));
    writeFileSync(container, JSON.stringify(containerConfig));
    const endpoint = `unix://${d.address}`;
    const run = async (args: string[]) => {
      const r = await execFileP(crictl, ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '60s', ...args], { encoding: 'utf8' });
      return r.stdout.trim();
    };
    const id = await run(['runp', pod]);
    const ctr = await run(['create', id, container, pod]);
    await run(['start', ctr]);
    return id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function removePod(c: CriClient, pod: string): Promise<void> {
  await call(c, 'StopPodSandbox', { pod_sandbox_id: pod });
  await call(c, 'RemovePodSandbox', { pod_sandbox_id: pod });
}

export const pod: Scenario = {
  name: 'pod',
  summary: 'CRI pod start: RunPodSandbox + CreateContainer + StartContainer of one container, on a CNI bridge (ms)',
  needsCri: true,
  async prepare(d, _opts, cleanup) {
    cleanup.add(`${d.name}'s pods`, async () => {
      const base = d.client(ns);
      const c = grpcClient<CriClient>(base, RuntimeService);
      try {
        const { items } = await call<{ items: Array<{ id: string }> }>(c, 'ListPodSandbox', {});
        for (const p of items) await removePod(c, p.id);
      } finally {
        c.close();
        base.close();
      }
    });
    const c = d.client(ns);
    try {
      await storeRunImage(c, buildRunImage({ name: benchSandboxImage, config: { Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 2147483647 & wait'] } }));
      await storeRunImage(c, buildRunImage({ name: containerImage }));
    } finally {
      c.close();
    }
    unpack(d, benchSandboxImage);
    unpack(d, containerImage);
  },
  async round(d: Daemon, opts, progress): Promise<Measurement[]> {
    const base = d.client(ns);
    const c = grpcClient<CriClient>(base, RuntimeService);
    const times: number[] = [];
    const steps: Steps[] = [];
    try {
      // one untimed pod first: the first of a round pays for caches the others find warm
      await removePod(c, await startPod(c, `warm-${d.name}-${serial++}`));
      for (let i = 0; i < podsPerRound; i++) {
        const t0 = performance.now();
        const id = await startPod(c, `pod-${d.name}-${serial++}`, steps);
        times.push(performance.now() - t0);
        await removePod(c, id);
        await new Promise((r) => setTimeout(r, settleMs));
      }
    } finally {
      c.close();
      base.close();
    }
    const viaCrictl: number[] = [];
    if (opts.crictl) {
      const c = grpcClient<CriClient>(d.client(ns), RuntimeService);
      try {
        await removePod(c, await startPodWithCrictl(opts.crictl, d, `warm-crictl-${d.name}-${serial++}`));
        for (let i = 0; i < podsPerRound; i++) {
          const t0 = performance.now();
          const id = await startPodWithCrictl(opts.crictl, d, `crictl-${d.name}-${serial++}`);
          viaCrictl.push(performance.now() - t0);
          await removePod(c, id);
          await new Promise((r) => setTimeout(r, settleMs));
        }
      } finally {
        c.close();
      }
    }
    const range = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    progress(`pod start ${range(times)}${viaCrictl.length > 0 ? `; through crictl ${range(viaCrictl)}` : ''}`);
    return [
      ...times.map((ms): Measurement => ({ metric: 'pod start (run + create + start)', unit: 'ms', value: ms, better: 'lower' })),
      ...(['run', 'create', 'start'] as const).flatMap((step) =>
        steps.map(
          (s): Measurement => ({
            metric: `  of it ${{ run: 'RunPodSandbox', create: 'CreateContainer', start: 'StartContainer' }[step]}`,
            unit: 'ms',
            value: s[step],
            better: 'lower',
          }),
        ),
      ),
      ...viaCrictl.map((ms): Measurement => ({ metric: 'pod start through crictl (runp, create, start)', unit: 'ms', value: ms, better: 'lower' })),
    ];
  },
};
