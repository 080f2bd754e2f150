import type { VersionHandlers } from '../../api/gen/containerd/services/version/v1/Version.ts';
import { Version } from '../../api/services.ts';
import { revision, version } from '../../core/version.ts';
import { unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';

export function versionService(): GrpcService {
  const handlers: VersionHandlers = {
    Version: unary(async () => ({ version, revision })),
  };
  return {
    register(server) {
      server.addService(Version, handlers);
    },
  };
}
