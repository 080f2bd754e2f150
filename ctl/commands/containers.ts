import type { Command } from 'commander';
import type { Container__Output } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import { fromTimestamp as ts } from '../../api/timestamp.ts';
import type { BerthClient } from '../../transport/client.ts';
import { collect } from '../../transport/typed.ts';
import type { Context } from '../context.ts';
import { forEachTarget } from '../errors.ts';
import { type Column, formatLabels, iso, type ListFlags, listFlags, out, printList, sortedLabels } from '../output.ts';
import { parseLabels } from '../parse.ts';
import { type ContainerFlags, containerFlags } from '../spec/flags.ts';
import { registerContainerPrune } from './verbs/prune.ts';

const isCode = (err: unknown, code: string) => (err as { code?: string }).code === code;

/** Containers.ListStream, falling back to List on Unimplemented, as ctr 1.6 does. */
export async function listContainers(c: BerthClient, filters: string[]): Promise<Container__Output[]> {
  try {
    return (await collect(c.containers.ListStream({ filters }))).map((m) => m.container!);
  } catch (err) {
    if (!isCode(err, 'Unimplemented')) throw err;
    return (await c.containers.List({ filters })).containers;
  }
}

export async function getContainer(c: BerthClient, id: string): Promise<Container__Output> {
  return (await c.containers.Get({ id })).container!;
}

/** Go's time.Time JSON (RFC 3339 with nanoseconds trimmed to what is there). */
const goTime = (t: Container__Output['created_at']) => {
  const ms = ts(t);
  return ms === undefined ? '0001-01-01T00:00:00Z' : new Date(ms).toISOString();
};

/** A container as `ctr containers info` prints it: Go field names, the spec decoded. */
export function infoJson(container: Container__Output) {
  // gogo's Any: value omitted when empty; an empty map is Go's nil map, null
  const any = (a: { type_url: string; value: Buffer } | null | undefined) =>
    a ? { type_url: a.type_url, ...(a.value && a.value.length > 0 ? { value: Buffer.from(a.value).toString('base64') } : {}) } : null;
  const extensions = Object.entries(container.extensions ?? {});
  let spec: unknown;
  if (container.spec?.value && container.spec.value.length > 0) {
    try {
      spec = JSON.parse(Buffer.from(container.spec.value).toString('utf8'));
    } catch {
      spec = any(container.spec);
    }
  }
  return {
    ID: container.id,
    Labels: sortedLabels(container.labels),
    Image: container.image,
    Runtime: { Name: container.runtime?.name ?? '', Options: any(container.runtime?.options) },
    SnapshotKey: container.snapshot_key,
    Snapshotter: container.snapshotter,
    CreatedAt: goTime(container.created_at),
    UpdatedAt: goTime(container.updated_at),
    Extensions: extensions.length > 0 ? Object.fromEntries(extensions.map(([k, v]) => [k, any(v)])) : null,
    ...(spec === undefined ? {} : { Spec: spec }),
  };
}

/**
 * The networking berthd set up for a container that asks for it (label io.berth/network): its
 * addresses on each network and its published ports, while its task has them; else undefined.
 */
async function networkingOf(c: BerthClient, container: Container__Output) {
  const [{ networkLabel }, { Networks }, { formatPort }] = await Promise.all([
    import('../../core/spec/names.ts'),
    import('../../api/services.ts'),
    import('../../core/spec/network.ts'),
  ]);
  if (container.labels?.[networkLabel] === undefined) return undefined;
  try {
    const { networking: n } = await c.service(Networks).Attachment({ container_id: container.id });
    if (!n) return undefined;
    return {
      Networks: n.networks.map((a) => ({ Name: a.name, Interface: a.if_name, Addresses: a.ips, MacAddress: a.mac, Gateway: a.gateway })),
      Ports: n.ports.map((p) =>
        formatPort({ hostPort: p.host_port, containerPort: p.container_port, protocol: p.protocol as 'tcp' | 'udp', hostIP: p.host_ip || undefined }),
      ),
    };
  } catch (err) {
    // no task (so no networking now), or a daemon without berth's Networks service
    if (isCode(err, 'NotFound') || isCode(err, 'Unimplemented')) return undefined;
    throw err;
  }
}

/**
 * Deletes a container like `ctr containers rm`: a stopped or created task is deleted first, a
 * running one refuses; the snapshot goes too unless keepSnapshot.
 */
export async function removeContainer(c: BerthClient, id: string, keepSnapshot = false): Promise<void> {
  try {
    const { process: p } = await c.tasks.Get({ container_id: id, exec_id: '' });
    const status = p?.status ?? 'UNKNOWN';
    if (status !== 'STOPPED' && status !== 'CREATED')
      throw new Error(`cannot delete a running task: container ${id} is ${status.toLowerCase()} (stop it with berth tasks kill, or berth tasks rm -f)`);
    await c.tasks.Delete({ container_id: id });
    const { removeStdio } = await import('./run.ts');
    if (p) await removeStdio(id, [p.stdin, p.stdout, p.stderr]);
  } catch (err) {
    // no task; a daemon without a tasks service has none either
    if (!isCode(err, 'NotFound') && !isCode(err, 'Unimplemented')) throw err;
  }
  if (keepSnapshot) {
    await c.containers.Delete({ id });
    return;
  }
  const { deleteContainer } = await import('../spec/create.ts');
  await deleteContainer(c, id);
}

/** `berth containers create|ls|info|rm|label`: container records (spec, runtime, snapshot). */
export function register(program: Command, ctx: Context) {
  const containers = program.command('containers').alias('container').alias('c').description('manage containers (metadata: spec, runtime, root file system)');

  containerFlags(
    containers
      .command('create')
      .description('create a container from an image (no task is started)')
      .argument('<image>', 'image name')
      .argument('<id>', 'container id')
      .argument('[command...]', "command and arguments (replace the image's entrypoint and cmd)")
      .passThroughOptions(),
  ).action(async (image: string, id: string, command: string[], flags: ContainerFlags) => {
    const [c, { createContainer, deleteContainer }, { SignalRelay }] = await Promise.all([
      ctx.client(),
      import('../spec/create.ts'),
      import('../io/session.ts'),
    ]);
    // ^C while the snapshot is mounted here must not leave the mount behind
    const relay = new SignalRelay();
    try {
      await createContainer(c, { id, image, args: command, flags, namespace: ctx.options.namespace });
      if (relay.cancelled) {
        await deleteContainer(c, id).catch(() => undefined);
        relay.check();
      }
    } finally {
      relay.dispose();
    }
  });

  listFlags(
    containers
      .command('ls')
      .alias('list')
      .description('list containers (filters such as image==busybox or labels.app==web)')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the container ids',
  )
    .option('-w, --wide', "also print each container's published ports (as docker ps: 0.0.0.0:8080->80/tcp)")
    .action(async (filters: string[], flags: ListFlags & { wide?: boolean }) => {
      const c = await ctx.client();
      const list = await listContainers(c, filters);
      const { publishedPorts } = await import('../spec/network.ts');
      const portsColumn: Column<Container__Output> = ['PORTS', (k) => publishedPorts(k.labels)?.join(', ') || '-'];
      printList(list, flags, {
        id: (k) => k.id,
        json: (k) => ({
          id: k.id,
          image: k.image,
          runtime: k.runtime?.name ?? '',
          snapshotter: k.snapshotter,
          snapshot_key: k.snapshot_key,
          labels: sortedLabels(k.labels),
          created_at: iso(ts(k.created_at)),
          updated_at: iso(ts(k.updated_at)),
          ...(publishedPorts(k.labels) === undefined ? {} : { ports: publishedPorts(k.labels) }),
        }),
        columns: [
          ['CONTAINER', (k) => k.id],
          ['IMAGE', (k) => k.image || '-'],
          ['RUNTIME', (k) => k.runtime?.name ?? ''],
          ...(flags.wide ? [portsColumn] : []),
        ],
      });
    });

  containers
    .command('info')
    .description('print a container as JSON, its spec decoded (as ctr containers info)')
    .argument('<id>', 'container id')
    .option('--spec', 'print only the spec')
    .action(async (id: string, flags: { spec?: boolean }) => {
      const c = await ctx.client();
      const [container, { goJson }] = await Promise.all([getContainer(c, id), import('../../core/spec/spec.ts')]);
      const info = infoJson(container);
      if (flags.spec) {
        out(`${goJson(info.Spec ?? null, 4)}\n`);
        return;
      }
      const networking = await networkingOf(c, container);
      out(`${goJson(networking ? { ...info, Networking: networking } : info, 4)}\n`);
    });

  containers
    .command('rm')
    .alias('delete')
    .alias('del')
    .alias('remove')
    .description('delete containers and their snapshots, printing each id deleted (a running task refuses)')
    .argument('<ids...>', 'container ids')
    .option('--keep-snapshot', 'leave the snapshot')
    .action(async (ids: string[], flags: { keepSnapshot?: boolean }) => {
      const c = await ctx.client();
      await forEachTarget(ids, (id) => removeContainer(c, id, flags.keepSnapshot), ctx.options);
    });

  registerContainerPrune(containers, ctx);

  containers
    .command('label')
    .description('set labels on a container (key= removes one) and print its labels')
    .argument('<id>', 'container id')
    .argument('[labels...]', 'labels as key=value; an empty value removes the label')
    .action(async (id: string, labelArgs: string[]) => {
      const c = await ctx.client();
      const labels = parseLabels(labelArgs);
      let container: Container__Output;
      if (Object.keys(labels).length === 0) container = await getContainer(c, id);
      else {
        const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
        const paths = Object.keys(labels).map((k) => `labels.${k}`);
        container = (await c.containers.Update({ container: { id, labels: set }, update_mask: { paths } })).container!;
      }
      const shown = formatLabels(container.labels);
      if (shown !== '-') out(`${shown}\n`);
    });
}
