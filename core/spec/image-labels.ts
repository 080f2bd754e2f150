/**
 * Which of an image's labels a container created from it may carry. An image is data from a
 * registry; labels under the prefixes that containerd and berth read host-side decisions from
 * (berth's log file, gc.ref references that pin content, CRI and Kubernetes bookkeeping) are
 * not the image's to set, so they are dropped with a warning.
 */

export const reservedLabelPrefixes: readonly string[] = ['io.berth.', 'io.berth/', 'containerd.io/', 'io.containerd.', 'io.cri-containerd.', 'io.kubernetes.'];

export const isReservedLabel = (key: string) => reservedLabelPrefixes.some((p) => key.startsWith(p));

/** Label keys and values as containerd's labels.Validate allows them. */
export const validLabel = (k: string, v: string) => k !== '' && Buffer.byteLength(k) + Buffer.byteLength(v) <= 4096;

/**
 * The labels a container inherits from its image (its config's Labels, then its record's),
 * without reserved or invalid ones; `warn` is told of each one left out.
 */
export function containerLabelsFromImage(
  sources: readonly (Record<string, string> | null | undefined)[],
  warn: (message: string) => void,
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of sources.flatMap((s) => Object.entries(s ?? {}))) {
    const shown = JSON.stringify(k.slice(0, 64));
    if (isReservedLabel(k)) warn(`not copying the image's label ${shown} to the container: the prefix is reserved for the host`);
    else if (!validLabel(k, v)) warn(`not copying the image's label ${shown} to the container: key and value exceed 4096 bytes`);
    else labels[k] = v;
  }
  return labels;
}
