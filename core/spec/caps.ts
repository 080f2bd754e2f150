import { readFileSync } from 'node:fs';

/** Linux capabilities by number, as containerd's pkg/cap knows them (kernel 5.9). */
export const allCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Names of the capabilities set in a hex bitmap from /proc/<pid>/status (unknown bits skipped). */
export function capabilitiesFromBitmap(hex: string): string[] {
  const bits = BigInt(`0x${hex}`);
  return allCapabilities.filter((_, i) => ((bits >> BigInt(i)) & 1n) === 1n);
}

/** This process's effective capabilities (cap.Current), what --privileged grants. */
export function currentCapabilities(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? capabilitiesFromBitmap(m[1]!) : [];
}

/**
 * A --cap-add/--cap-drop value as the spec names it: case-insensitive, CAP_ optional
 * (`net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` are the same); `ALL` stands for every one.
 */
export function normalizeCapabilities(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const upper = raw.trim().toUpperCase();
    if (upper === 'ALL' || upper === 'CAP_ALL') {
      out.push(...allCapabilities);
      continue;
    }
    const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
    if (!allCapabilities.includes(name)) throw new Error(`unknown capability "${raw}"`);
    out.push(name);
  }
  return [...new Set(out)];
}
