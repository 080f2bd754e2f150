import type * as grpc from '@grpc/grpc-js';
import type { HealthHandlers } from '../../api/gen/grpc/health/v1/Health.ts';
import type { HealthCheckRequest__Output } from '../../api/gen/grpc/health/v1/HealthCheckRequest.ts';
import type { HealthCheckResponse, HealthCheckResponse__Output } from '../../api/gen/grpc/health/v1/HealthCheckResponse.ts';
import { Health } from '../../api/services.ts';
import { notFound } from '../../core/errors.ts';
import { unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';

type ServingStatus = HealthCheckResponse__Output['status'];
type WatchCall = grpc.ServerWritableStream<HealthCheckRequest__Output, HealthCheckResponse>;

/**
 * grpc.health.v1.Health, as grpc-go's health server answers it (containerd serves that one): the
 * server as a whole is the service "", and each service berthd serves is listed by its full
 * name. Nothing is SERVING until the daemon listens (every required plugin is then up, or the
 * daemon would have stopped); everything turns NOT_SERVING when it shuts down.
 */
export interface HealthService extends GrpcService {
  /** The daemon listens and serves these services (full names). */
  serving(services: readonly string[]): void;
}

export function healthService(): HealthService {
  const statuses = new Map<string, ServingStatus>([['', 'NOT_SERVING']]);
  const watchers = new Map<string, Set<WatchCall>>();

  const set = (service: string, status: ServingStatus) => {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    for (const call of watchers.get(service) ?? []) call.write({ status });
  };

  const handlers: HealthHandlers = {
    Check: unary(async (req) => {
      const status = statuses.get(req.service);
      if (status === undefined) throw notFound('unknown service');
      return { status };
    }),
    Watch: (call: WatchCall) => {
      const service = call.request.service;
      let calls = watchers.get(service);
      if (!calls) watchers.set(service, (calls = new Set()));
      calls.add(call);
      const forget = () => {
        calls.delete(call);
        if (calls.size === 0 && watchers.get(service) === calls) watchers.delete(service);
      };
      call.on('cancelled', forget);
      call.on('close', forget);
      call.on('error', forget);
      // a service not served now may be later: the stream stays open either way
      call.write({ status: statuses.get(service) ?? 'SERVICE_UNKNOWN' });
    },
    List: unary(async () => ({ statuses: Object.fromEntries([...statuses].map(([service, status]) => [service, { status }])) })),
  };

  return {
    serving(services) {
      for (const service of services) set(service, 'SERVING');
      set('', 'SERVING');
    },
    drain() {
      for (const service of statuses.keys()) set(service, 'NOT_SERVING');
      for (const calls of watchers.values()) for (const call of calls) call.end();
      watchers.clear();
    },
    register(server) {
      server.addService(Health, handlers);
    },
  };
}
