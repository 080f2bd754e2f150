import { invalidArgument } from './errors.ts';

/** An image's platform as OCI spells it (Go's GOOS/GOARCH names). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

// Node's names for CPU architectures → Go's (GOARCH), which platforms are spelled in.
const goArches: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

/** Go's GOARCH for one of Node's process.arch names (the name itself when there is no table entry). */
export const goArch = (nodeArch: string): string => goArches[nodeArch] ?? nodeArch;

export const hostPlatform: Platform = { os: 'linux', architecture: goArch(process.arch) };

/** containerd's platforms.Normalize, for the spellings images carry. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  if (arch === 'i386') arch = '386';
  else if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  else if (arch === 'aarch64' || arch === 'arm64') {
    arch = 'arm64';
    if (variant === '8' || variant === 'v8') variant = '';
  } else if (arch === 'armhf') [arch, variant] = ['arm', 'v7'];
  else if (arch === 'armel') [arch, variant] = ['arm', 'v6'];
  else if (arch === 'arm') variant = variant === '' || variant === '7' ? 'v7' : /^[568]$/.test(variant) ? `v${variant}` : variant;
  return variant ? { os, architecture: arch, variant } : { os, architecture: arch };
}

/** os/arch[/variant], or "unknown" without an os (platforms.Format). */
export const formatPlatform = (p: Platform) => (p.os ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown');

/** Whether an image for p runs on want (platforms.Only, without the compatible variants). */
export function platformMatches(want: Platform, p: Platform): boolean {
  const a = normalizePlatform(want);
  const b = normalizePlatform(p);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** containerd's platforms.Parse for what users type: os/arch[/variant], or an os or arch alone. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) throw invalidArgument(`invalid platform "${s}": want os/arch[/variant]`);
  if (parts.length === 1) {
    const [one] = parts as [string];
    return /^(linux|windows|darwin|freebsd)$/i.test(one)
      ? normalizePlatform({ ...hostPlatform, os: one })
      : normalizePlatform({ os: hostPlatform.os, architecture: one });
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}
