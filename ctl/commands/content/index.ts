import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { register as active } from './active.ts';
import { register as get } from './get.ts';
import { register as ingest } from './ingest.ts';
import { register as label } from './label.ts';
import { register as ls } from './ls.ts';
import { register as rm } from './rm.ts';

/** `berth content ls|get|ingest|rm|label|active`: the content store, blobs by digest. */
export function register(program: Command, ctx: Context) {
  const content = program.command('content').description('manage the content store (blobs by digest)');
  for (const verb of [ls, get, ingest, rm, label, active]) verb(content, ctx);
}
