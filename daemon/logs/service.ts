import { stat } from 'node:fs/promises';
import type { LogEntry } from '../../api/gen/berth/services/logs/v1/LogEntry.ts';
import type { LogsHandlers } from '../../api/gen/berth/services/logs/v1/Logs.ts';
import { Logs } from '../../api/services.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import { failedPrecondition, invalidArgument } from '../../core/errors.ts';
import type { ContainerStore } from '../containers/store.ts';
import { namespaceOf, serverStream } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import { readLog } from './reader.ts';
import type { LogStore } from './store.ts';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** berth.services.logs.v1.Logs: a container's log, as berthd keeps it (see logs.proto). */
export function logsService(store: LogStore, containers: ContainerStore, tasks: TaskManager): GrpcService {
  const handlers: LogsHandlers = {
    Read: serverStream(async function* (req, call): AsyncGenerator<LogEntry> {
      const ns = namespaceOf(call);
      if (!req.container_id) throw invalidArgument('container_id is required');
      const tail = Number(req.tail);
      if (!Number.isSafeInteger(tail) || tail < 0) throw invalidArgument(`tail must be 0 or more, not ${req.tail}`);
      await containers.get(ns, req.container_id);
      const path = store.pathOf(ns, req.container_id);
      if (!(await exists(path))) throw failedPrecondition(`container ${req.container_id} keeps no log (berth run keeps one; containers made otherwise do not)`);
      const since = fromTimestamp(req.since) === undefined ? undefined : req.since!;
      const signal = new AbortController();
      call.on('cancelled', () => signal.abort());
      // following ends with the task: its exit means the monitor has logged everything
      const done = req.follow && tasks.has(ns, req.container_id) ? tasks.get(ns, req.container_id).wait('') : Promise.resolve();
      done.catch(() => undefined);
      for await (const line of readLog(path, {
        tail: tail > 0 ? tail : undefined,
        sinceNs: since && BigInt(since.seconds) * 1_000_000_000n + BigInt(since.nanos),
        follow: req.follow,
        done,
        signal: signal.signal,
      })) {
        const timestamp = { seconds: Number(line.timeNs / 1_000_000_000n), nanos: Number(line.timeNs % 1_000_000_000n) };
        yield { timestamp, stream: line.stream, data: line.data };
      }
    }),
  };
  return {
    register(server) {
      server.addService(Logs, handlers);
    },
  };
}
