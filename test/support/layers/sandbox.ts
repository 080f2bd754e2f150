import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ApplyMode } from '../../../daemon/diff/applier.ts';
import { type Applied, applyLayer } from '../../../daemon/diff/apply.ts';
import { gz, type RawEntry, tar } from './tarbuild.ts';

/**
 * A throwaway target directory with sentinels around it: `base/root` is the target, and
 * `base/outside` holds a canary (mode 0400, known mtime) and a sentinel directory. check()
 * proves that nothing outside the target changed.
 */
export interface Sandbox {
  base: string;
  root: string;
  outside: string;
  canary: string;
  /** throws when anything outside root differs from the start, or /tmp/PWN*, /etc/PWN* exist */
  check(): void;
  cleanup(): void;
}

const canaryMtime = 1_000_000_000;

function listing(base: string, skip: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const n of fs.readdirSync(dir).sort()) {
      const p = join(dir, n);
      if (p === skip) continue;
      const st = fs.lstatSync(p);
      const body = st.isFile() ? fs.readFileSync(p, 'latin1') : st.isSymbolicLink() ? fs.readlinkSync(p) : '';
      out.push(`${p} mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} nlink=${st.nlink} mtime=${st.mtimeMs} ${JSON.stringify(body)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(base);
  return out;
}

export function hostPwned(): string[] {
  const found: string[] = [];
  for (const dir of ['/tmp', '/etc', '/']) for (const n of fs.readdirSync(dir)) if (n.startsWith('PWN')) found.push(join(dir, n));
  return found;
}

export function sandbox(): Sandbox {
  const base = fs.mkdtempSync('/tmp/berth-diff-');
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  fs.mkdirSync(root, { mode: 0o755 });
  fs.mkdirSync(join(outside, 'etc'), { recursive: true });
  const canary = join(outside, 'canary');
  fs.writeFileSync(canary, 'canary');
  fs.writeFileSync(join(outside, 'etc', 'passwd'), 'host passwd');
  fs.chmodSync(canary, 0o400);
  fs.utimesSync(canary, canaryMtime, canaryMtime);
  const before = listing(base, root);
  const pwnedBefore = hostPwned();
  return {
    base,
    root,
    outside,
    canary,
    check() {
      const after = listing(base, root);
      if (after.join('\n') !== before.join('\n')) throw new Error(`outside of the target changed:\nbefore:\n${before.join('\n')}\nafter:\n${after.join('\n')}`);
      const pwned = hostPwned().filter((p) => !pwnedBefore.includes(p));
      if (pwned.length > 0) throw new Error(`host files appeared: ${pwned.join(', ')}`);
    },
    cleanup() {
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface ApplyCase {
  mode?: ApplyMode;
  mediaType?: string;
  /** raw bytes instead of entries (already compressed as mediaType says) */
  bytes?: Buffer;
  onSpawn?: (pid: number) => void;
}

/** Applies entries (gzip-compressed, as a +gzip layer) onto the sandbox's root. */
export async function applyTo(sb: Sandbox, entries: RawEntry[], opts: ApplyCase = {}): Promise<Applied> {
  const blob = join(sb.base, 'layer.blob');
  fs.writeFileSync(blob, opts.bytes ?? gz(tar(entries)));
  try {
    return await applyLayer({
      root: sb.root,
      mode: opts.mode ?? 'plain',
      mediaType: opts.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip',
      blob,
      onSpawn: opts.onSpawn,
    });
  } finally {
    fs.rmSync(blob, { force: true });
  }
}
