import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { register as exec } from '../tasks/exec.ts';
import { register as inspect } from './inspect.ts';
import { register as lifecycle } from './lifecycle.ts';
import { register as ps } from './ps.ts';
import { register as rm } from './rm.ts';

/**
 * Docker's and nerdctl's top-level verbs for containers (`ps`, `stop`, `kill`, `wait`, `start`,
 * `restart`, `rm`, `inspect`, `exec`) beside ctr's groups, which stay as they are.
 */
export function register(program: Command, ctx: Context) {
  ps(program, ctx);
  lifecycle(program, ctx);
  rm(program, ctx);
  inspect(program, ctx);
  exec(program, ctx);
}
