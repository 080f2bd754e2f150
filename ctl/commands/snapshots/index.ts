import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { snapshotsGroup } from './group.ts';
import { register as label } from './label.ts';
import { register as list } from './list.ts';
import { register as mounts } from './mounts.ts';
import { register as prepare } from './prepare.ts';
import { register as rm } from './rm.ts';
import { register as usage } from './usage.ts';

/** `berth snapshots ...`: the snapshotters' snapshots, as `ctr snapshots` shows them. */
export function register(program: Command, ctx: Context) {
  const group = snapshotsGroup(program, ctx);
  for (const verb of [list, prepare, rm, mounts, usage, label]) verb(group, ctx);
}
