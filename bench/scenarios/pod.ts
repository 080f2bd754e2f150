import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { channelOptions, loadProtoDir, lookup } from '../../test/support/grpc-js.ts';
import { buildRunImage, storeRunImage } from '../../test/support/run-image.ts';
import type { Scenario } from '../scenario.ts';
import { criSandboxImage, type Daemon } from '../setup.ts';
import type { Measurement } from '../stats.ts';

/**
 * Pod start through each daemon's CRI (runtime.v1 on its own socket, as the kubelet or crictl
 * call it), with one grpc-js client on the CRI protos: RunPodSandbox (pause, netns, CNI bridge
 * ADD) + CreateContainer + StartContainer of one container, timed from the first request to
 * the last answer. The pod is stopped and removed after each start, untimed. Both daemons get
 * the same two images in namespace k8s.io (a pause and busybox-static), a CNI bridge and subnet
 * of their own (setup.ts), and one untimed pod first, which unpacks the images.
 */
const startsPerRound = 10;
const containerImage = 'docker.io/library/busybox:latest';

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type RuntimeClient = grpc.Client & Record<string, (req: unknown, cb: Callback) => void>;

const clients = new Map<Daemon, RuntimeClient>();
let serial = 0;

function runtimeOf(d: Daemon): RuntimeClient {
  let c = clients.get(d);
  if (!c) {
    const Runtime = lookup<grpc.ServiceClientConstructor>(loadProtoDir('k8s.io/cri-api/runtime/v1'), 'runtime.v1.RuntimeService');
    c = new Runtime(`unix://${d.address}`, grpc.credentials.createInsecure(), channelOptions) as unknown as RuntimeClient;
    clients.set(d, c);
  }
  return c;
}

function call<T>(d: Daemon, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    runtimeOf(d)[method]!(req, (err, res) => (err ? reject(new Error(`${d.name}: ${method}: ${err.details || err.message}`)) : resolve(res as T))),
  );
}

/** One pod with one running container; returns the pod's id and the time the three calls took. */
async function startPod(d: Daemon): Promise<{ id: string; ms: number }> {
  const name = `bench-${process.pid}-${serial++}`;
  const logs = join(d.root, '..', 'pod-logs', name);
  mkdirSync(logs, { recursive: true });
  const config = {
    metadata: { name, uid: `uid-${name}`, namespace: 'bench', attempt: 0 },
    log_directory: logs,
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const t0 = performance.now();
  const { pod_sandbox_id: id } = await call<{ pod_sandbox_id: string }>(d, 'RunPodSandbox', { config, runtime_handler: '' });
  const { container_id } = await call<{ container_id: string }>(d, 'CreateContainer', {
    pod_sandbox_id: id,
    config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image: containerImage }, command: ['sleep', '3600'], log_path: 'sleeper.log', linux: {} },
    sandbox_config: config,
  });
  await call(d, 'StartContainer', { container_id });
  return { id, ms: performance.now() - t0 };
}

async function removePod(d: Daemon, id: string): Promise<void> {
  await call(d, 'StopPodSandbox', { pod_sandbox_id: id });
  await call(d, 'RemovePodSandbox', { pod_sandbox_id: id });
}

export const pod: Scenario = {
  name: 'pod',
  summary: `pod start through the CRI (RunPodSandbox + CreateContainer + StartContainer), ${startsPerRound} per round`,
  async prepare(d, _opts, cleanup) {
    const c = d.client('k8s.io');
    try {
      await storeRunImage(c, buildRunImage({ name: criSandboxImage, config: { Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 2147483647 & wait'] } }));
      await storeRunImage(c);
    } finally {
      c.close();
    }
    // before the daemons stop: every pod gone (a failed round leaves its pod), then the client
    cleanup.add(`remove the pods of ${d.name}`, async () => {
      const { items } = await call<{ items: { id: string }[] }>(d, 'ListPodSandbox', { filter: null });
      for (const p of items) await removePod(d, p.id);
      clients.get(d)?.close();
    });
    // untimed: the first pod unpacks both images
    const first = await startPod(d);
    await removePod(d, first.id);
  },
  async round(d, _opts, progress) {
    const out: Measurement[] = [];
    for (let i = 0; i < startsPerRound; i++) {
      const { id, ms } = await startPod(d);
      out.push({ metric: 'pod start', unit: 'ms', better: 'lower', value: ms });
      await removePod(d, id);
    }
    const sorted = out.map((m) => m.value).sort((a, b) => a - b);
    progress(`pod start median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms`);
    return out;
  },
};
