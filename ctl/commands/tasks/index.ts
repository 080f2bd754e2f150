import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { register as attach } from './attach.ts';
import { register as exec } from './exec.ts';
import { register as kill } from './kill.ts';
import { register as ls } from './ls.ts';
import { register as metrics } from './metrics.ts';
import { register as pause } from './pause.ts';
import { register as ps } from './ps.ts';
import { register as rm } from './rm.ts';
import { register as start } from './start.ts';
import { register as update } from './update.ts';
import { register as wait } from './wait.ts';

/** `berth tasks …`: the running side of containers (ctr tasks). */
export function register(program: Command, ctx: Context) {
  const tasks = program.command('tasks').alias('task').alias('t').description("manage tasks (a container's running process and its execs)");
  for (const verb of [start, ls, ps, kill, exec, attach, pause, metrics, update, wait, rm]) verb(tasks, ctx);
}
