import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { registerImagePrune } from '../verbs/prune.ts';
import { register as check } from './check.ts';
import { register as exportImages } from './export.ts';
import { register as importImages } from './import.ts';
import { register as inspect } from './inspect.ts';
import { register as ls } from './ls.ts';
import { register as pull } from './pull.ts';
import { register as push } from './push.ts';
import { register as rm } from './rm.ts';
import { register as tag } from './tag.ts';
import { register as usage } from './usage.ts';

/** `berth images push|pull|unpack|ls|check|inspect|usage|tag|import|export|rm`: image records (name → target) and their trees of blobs. */
export function register(program: Command, ctx: Context) {
  const images = program.command('images').alias('image').alias('i').description('manage images (names for trees of content)');
  for (const verb of [push, pull, ls, check, inspect, usage, tag, importImages, exportImages, rm, registerImagePrune]) verb(images, ctx);
}
