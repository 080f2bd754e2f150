import { constants } from 'node:os';

/** A signal by name (SIGTERM, TERM, term), number (1-64) or real-time name (RTMIN+3), as ctr takes them. */
export function signalNumber(name: string): number {
  const t = name.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1 || n > 64) throw new Error(`invalid signal ${name}`);
    return n;
  }
  const rt = /^(?:SIG)?RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(t);
  if (rt) {
    // glibc's SIGRTMIN is 34 (two are kept for threads), SIGRTMAX 64
    const n = (rt[1] === 'MIN' ? 34 : 64) + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    if (n < 34 || n > 64) throw new Error(`invalid signal ${name}`);
    return n;
  }
  const full = (t.startsWith('SIG') ? t : `SIG${t}`) as keyof typeof constants.signals;
  const n = constants.signals[full];
  if (n === undefined) throw new Error(`invalid signal ${name}`);
  return n;
}
