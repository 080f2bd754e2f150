import type { DiffHandlers } from '../../api/gen/containerd/services/diff/v1/Diff.ts';
import { Diff } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { leaseOf, namespaceOf, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import { toMounts, type WalkingDiffer } from './differ.ts';

/** containerd.services.diff.v1.Diff over the walking differ. */
export function diffService(differ: WalkingDiffer): GrpcService {
  const handlers: DiffHandlers = {
    Apply: unary(async (req, call) => {
      if (!req.diff?.digest) throw invalidArgument('diff descriptor is required');
      const applied = await differ.apply(namespaceOf(call), req.diff, toMounts(req.mounts));
      return { applied };
    }),
    Diff: unary(async (req, call) => {
      if (!req.right || req.right.length === 0) throw invalidArgument('right mounts are required');
      const diff = await differ.compare(namespaceOf(call), toMounts(req.left), toMounts(req.right), {
        mediaType: req.media_type,
        ref: req.ref,
        labels: req.labels,
        lease: leaseOf(call),
      });
      return { diff };
    }),
  };
  return {
    register(server) {
      server.addService(Diff, handlers);
    },
  };
}
