import type { RunHandlers } from '../../api/gen/berth/services/run/v1/Run.ts';
import type { RunEvent } from '../../api/gen/berth/services/run/v1/RunEvent.ts';
import { Run } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { parsePlatform } from '../../core/platform.ts';
import { defaultRuntime } from '../../core/spec/names.ts';
import { specFlagsOf } from '../../core/spec/options.ts';
import { namespaceOf, serverStream } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Runner } from './runner.ts';

/** berth.services.run.v1.Run: a container from an image, run in one call (see run.proto). */
export function runService(runner: Runner): GrpcService {
  const handlers: RunHandlers = {
    Run: serverStream(async function* (req, call): AsyncGenerator<RunEvent> {
      const ns = namespaceOf(call);
      if (!req.image) throw invalidArgument('image is required');
      if (!req.container_id) throw invalidArgument('container_id is required');
      let spec: ReturnType<typeof specFlagsOf>;
      let platform: ReturnType<typeof parsePlatform> | undefined;
      try {
        spec = specFlagsOf(req.spec);
        platform = req.platform ? parsePlatform(req.platform) : undefined;
      } catch (err) {
        throw invalidArgument((err as Error).message);
      }
      const warnings: string[] = [];
      const runtime = req.runtime || defaultRuntime;
      try {
        const task = await runner.run(
          ns,
          {
            image: req.image,
            id: req.container_id,
            spec,
            labels: req.labels,
            runtime,
            runcBinary: req.runc_binary || undefined,
            snapshotter: req.snapshotter || 'overlayfs',
            platform,
            stdio: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
            autoRemove: req.auto_remove,
          },
          (m) => warnings.push(m),
        );
        // the exit is waited for from the start: an auto-removed task may be gone by the time it is asked
        const exited = req.detach ? undefined : task.wait('');
        exited?.catch(() => undefined);
        yield { started: { pid: task.pid, warnings } };
        if (!exited) return;
        const exit = await exited;
        yield { exited: { exit_status: exit.exit_status, exited_at: exit.exited_at } };
      } finally {
        runner.ended(runtime);
      }
    }),
  };
  return {
    register(server) {
      server.addService(Run, handlers);
    },
  };
}
