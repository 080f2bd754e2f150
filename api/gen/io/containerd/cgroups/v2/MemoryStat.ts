// Original file: api/proto/containerd/cgroups/v2/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface MemoryStat {
  'anon'?: (number | string | Long);
  'file'?: (number | string | Long);
  'kernel_stack'?: (number | string | Long);
  'slab'?: (number | string | Long);
  'sock'?: (number | string | Long);
  'shmem'?: (number | string | Long);
  'file_mapped'?: (number | string | Long);
  'file_dirty'?: (number | string | Long);
  'file_writeback'?: (number | string | Long);
  'anon_thp'?: (number | string | Long);
  'inactive_anon'?: (number | string | Long);
  'active_anon'?: (number | string | Long);
  'inactive_file'?: (number | string | Long);
  'active_file'?: (number | string | Long);
  'unevictable'?: (number | string | Long);
  'slab_reclaimable'?: (number | string | Long);
  'slab_unreclaimable'?: (number | string | Long);
  'pgfault'?: (number | string | Long);
  'pgmajfault'?: (number | string | Long);
  'workingset_refault'?: (number | string | Long);
  'workingset_activate'?: (number | string | Long);
  'workingset_nodereclaim'?: (number | string | Long);
  'pgrefill'?: (number | string | Long);
  'pgscan'?: (number | string | Long);
  'pgsteal'?: (number | string | Long);
  'pgactivate'?: (number | string | Long);
  'pgdeactivate'?: (number | string | Long);
  'pglazyfree'?: (number | string | Long);
  'pglazyfreed'?: (number | string | Long);
  'thp_fault_alloc'?: (number | string | Long);
  'thp_collapse_alloc'?: (number | string | Long);
  'usage'?: (number | string | Long);
  'usage_limit'?: (number | string | Long);
  'swap_usage'?: (number | string | Long);
  'swap_limit'?: (number | string | Long);
}

export interface MemoryStat__Output {
  'anon': (number);
  'file': (number);
  'kernel_stack': (number);
  'slab': (number);
  'sock': (number);
  'shmem': (number);
  'file_mapped': (number);
  'file_dirty': (number);
  'file_writeback': (number);
  'anon_thp': (number);
  'inactive_anon': (number);
  'active_anon': (number);
  'inactive_file': (number);
  'active_file': (number);
  'unevictable': (number);
  'slab_reclaimable': (number);
  'slab_unreclaimable': (number);
  'pgfault': (number);
  'pgmajfault': (number);
  'workingset_refault': (number);
  'workingset_activate': (number);
  'workingset_nodereclaim': (number);
  'pgrefill': (number);
  'pgscan': (number);
  'pgsteal': (number);
  'pgactivate': (number);
  'pgdeactivate': (number);
  'pglazyfree': (number);
  'pglazyfreed': (number);
  'thp_fault_alloc': (number);
  'thp_collapse_alloc': (number);
  'usage': (number);
  'usage_limit': (number);
  'swap_usage': (number);
  'swap_limit': (number);
}
