// Original file: api/proto/containerd/cgroups/v1/metrics.proto

import type { MemoryEntry as _io_containerd_cgroups_v1_MemoryEntry, MemoryEntry__Output as _io_containerd_cgroups_v1_MemoryEntry__Output } from '../../../../io/containerd/cgroups/v1/MemoryEntry.ts';
import type { Long } from '@grpc/proto-loader';

export interface MemoryStat {
  'cache'?: (number | string | Long);
  'rss'?: (number | string | Long);
  'rss_huge'?: (number | string | Long);
  'mapped_file'?: (number | string | Long);
  'dirty'?: (number | string | Long);
  'writeback'?: (number | string | Long);
  'pg_pg_in'?: (number | string | Long);
  'pg_pg_out'?: (number | string | Long);
  'pg_fault'?: (number | string | Long);
  'pg_maj_fault'?: (number | string | Long);
  'inactive_anon'?: (number | string | Long);
  'active_anon'?: (number | string | Long);
  'inactive_file'?: (number | string | Long);
  'active_file'?: (number | string | Long);
  'unevictable'?: (number | string | Long);
  'hierarchical_memory_limit'?: (number | string | Long);
  'hierarchical_swap_limit'?: (number | string | Long);
  'total_cache'?: (number | string | Long);
  'total_rss'?: (number | string | Long);
  'total_rss_huge'?: (number | string | Long);
  'total_mapped_file'?: (number | string | Long);
  'total_dirty'?: (number | string | Long);
  'total_writeback'?: (number | string | Long);
  'total_pg_pg_in'?: (number | string | Long);
  'total_pg_pg_out'?: (number | string | Long);
  'total_pg_fault'?: (number | string | Long);
  'total_pg_maj_fault'?: (number | string | Long);
  'total_inactive_anon'?: (number | string | Long);
  'total_active_anon'?: (number | string | Long);
  'total_inactive_file'?: (number | string | Long);
  'total_active_file'?: (number | string | Long);
  'total_unevictable'?: (number | string | Long);
  'usage'?: (_io_containerd_cgroups_v1_MemoryEntry | null);
  'swap'?: (_io_containerd_cgroups_v1_MemoryEntry | null);
  'kernel'?: (_io_containerd_cgroups_v1_MemoryEntry | null);
  'kernel_tcp'?: (_io_containerd_cgroups_v1_MemoryEntry | null);
}

export interface MemoryStat__Output {
  'cache': (number);
  'rss': (number);
  'rss_huge': (number);
  'mapped_file': (number);
  'dirty': (number);
  'writeback': (number);
  'pg_pg_in': (number);
  'pg_pg_out': (number);
  'pg_fault': (number);
  'pg_maj_fault': (number);
  'inactive_anon': (number);
  'active_anon': (number);
  'inactive_file': (number);
  'active_file': (number);
  'unevictable': (number);
  'hierarchical_memory_limit': (number);
  'hierarchical_swap_limit': (number);
  'total_cache': (number);
  'total_rss': (number);
  'total_rss_huge': (number);
  'total_mapped_file': (number);
  'total_dirty': (number);
  'total_writeback': (number);
  'total_pg_pg_in': (number);
  'total_pg_pg_out': (number);
  'total_pg_fault': (number);
  'total_pg_maj_fault': (number);
  'total_inactive_anon': (number);
  'total_active_anon': (number);
  'total_inactive_file': (number);
  'total_active_file': (number);
  'total_unevictable': (number);
  'usage': (_io_containerd_cgroups_v1_MemoryEntry__Output | null);
  'swap': (_io_containerd_cgroups_v1_MemoryEntry__Output | null);
  'kernel': (_io_containerd_cgroups_v1_MemoryEntry__Output | null);
  'kernel_tcp': (_io_containerd_cgroups_v1_MemoryEntry__Output | null);
}
