import type { Info__Output } from '../../../api/gen/containerd/services/snapshots/v1/Info.ts';
import type { Mount__Output } from '../../../api/gen/containerd/types/Mount.ts';
import { fromTimestamp as ts } from '../../../api/timestamp.ts';
import { iso, sortedLabels } from '../../output.ts';

export const gcRoot = 'containerd.io/gc.root';

/** VIEW → View, as ctr prints kinds. */
export const kindName = (kind: string) => kind.charAt(0) + kind.slice(1).toLowerCase();

export const infoJson = (i: Info__Output) => ({
  name: i.name,
  parent: i.parent || null,
  kind: kindName(i.kind),
  created_at: iso(ts(i.created_at)),
  updated_at: iso(ts(i.updated_at)),
  labels: sortedLabels(i.labels),
});

/** A word the shell reads back as itself: left alone when safe, single-quoted otherwise. */
const shellWord = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** ctr's line per mount: `mount -t TYPE SOURCE TARGET -o OPTIONS`, ready for sh. */
export const mountLines = (target: string, mounts: Mount__Output[]) =>
  mounts
    .map((m) => `${['mount', '-t', m.type, m.source, target, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : [])].map(shellWord).join(' ')}\n`)
    .join('');

/**
 * `ctr snapshots tree`: each root, then its children indented under it in `\_` steps. A parent
 * that is not in the list (another filter, a race) still heads its children.
 */
export function tree(infos: readonly Info__Output[]): string {
  const children = new Map<string, string[]>(); // in the order first seen
  const node = (name: string) => {
    let list = children.get(name);
    if (!list) children.set(name, (list = []));
    return list;
  };
  for (const i of infos) {
    node(i.name);
    if (i.parent !== '') node(i.parent).push(i.name);
  }
  const known = new Set(infos.map((i) => i.name));
  const parentOf = new Map(infos.map((i) => [i.name, i.parent]));
  let text = '';
  const print = (name: string, level: number) => {
    text += `${'  '.repeat(level)}${level > 0 ? '\\_' : ''} ${name}\n`;
    for (const child of children.get(name) ?? []) print(child, level + 1);
  };
  for (const name of children.keys()) if (!known.has(name) || parentOf.get(name) === '') print(name, 0);
  return text;
}
