import type { PullProgress__Output } from '../../api/gen/berth/services/pull/v1/PullProgress.ts';
import { formatSize, out } from '../output.ts';

interface Line {
  ref: string;
  status: string;
  offset: number;
  total: number;
  /** where this pull's download of the blob began (an interrupted earlier pull may have left a part) */
  from?: number;
}

const finished = new Set(['done', 'exists', 'unpacking', 'unpacked']);
const statusWidth = 11;
const sizesWidth = 19;

/** `layer-sha256:<64 hex>` → `layer-sha256:<12 hex>`, as short as a person needs to tell blobs apart. */
export function shortRef(ref: string): string {
  return ref.replace(/^([a-z]+-[a-z0-9]+:)([a-f0-9]{12})[a-f0-9]{20,}$/, '$1$2');
}

/** One blob's line in a terminal `columns` wide: never longer than columns - 1, so it never wraps. */
export function progressLine(l: Line, refWidth: number, columns: number): string {
  const sizes = l.total > 0 && !l.status.startsWith('resolv') ? `${formatSize(l.offset)}/${formatSize(l.total)}` : '';
  const done = finished.has(l.status);
  const fraction = done ? 1 : l.total > 0 ? Math.min(1, l.offset / l.total) : 0;
  const barWidth = Math.min(40, columns - 1 - refWidth - statusWidth - sizesWidth - 4);
  let bar = '';
  if (barWidth >= 10) {
    const filled = Math.round(fraction * barWidth);
    bar = l.status === 'downloading' || done ? `|${'+'.repeat(filled)}${' '.repeat(barWidth - filled)}|` : ' '.repeat(barWidth + 2);
  }
  const line = `${`${shortRef(l.ref)}:`.padEnd(refWidth)}${l.status.padEnd(statusWidth)} ${bar}${bar ? ' ' : ''}${sizes}`;
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/**
 * ctr's progress block: one line per blob, redrawn in place on a terminal and fitted to its
 * width; plain lines per state change otherwise. The rate is what this pull downloaded over the
 * time it took (blobs already present count for nothing).
 */
export class ProgressView {
  private readonly lines = new Map<string, Line>();
  private readonly started: number;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tty: boolean,
    private readonly columns: () => number = () => process.stdout.columns || 80,
    private readonly now: () => number = Date.now,
    /** where it draws: stdout, or stderr when the command's stdout is another program's (run's pull) */
    private readonly write: (text: string) => void = out,
  ) {
    this.started = now();
    if (tty) this.timer = setInterval(() => this.draw(), 100);
  }

  update(e: PullProgress__Output) {
    const prev = this.lines.get(e.ref);
    const line: Line = { ref: e.ref, status: e.status, offset: Number(e.offset), total: Number(e.total), from: prev?.from };
    if (e.status === 'downloading' && line.from === undefined) line.from = line.offset;
    if (e.status === 'done' && line.from !== undefined) line.offset = line.total;
    this.lines.set(e.ref, line);
    // not a terminal: a line per state change (download progress is not one)
    if (!this.tty && prev?.status !== e.status) this.write(`${[e.ref, line.status, this.sizes(line)].filter(Boolean).join(' ')}\n`);
  }

  private sizes(l: Line): string {
    return l.total > 0 && !l.status.startsWith('resolv') ? `${formatSize(l.offset)}/${formatSize(l.total)}` : '';
  }

  /** Bytes this pull downloaded. */
  transferred(): number {
    let n = 0;
    for (const l of this.lines.values()) if (l.from !== undefined) n += Math.max(0, (finished.has(l.status) ? l.total : l.offset) - l.from);
    return n;
  }

  summary(): string {
    const secs = (this.now() - this.started) / 1000;
    const bytes = this.transferred();
    return `elapsed: ${secs.toFixed(1)} s total: ${formatSize(bytes)} (${formatSize(secs > 0 ? bytes / secs : 0)}/s)`;
  }

  /** The block as drawn now (without cursor movement). */
  rows(): string[] {
    const columns = Math.max(20, this.columns());
    const lines = [...this.lines.values()];
    const refWidth = Math.min(Math.max(0, ...lines.map((l) => shortRef(l.ref).length)) + 2, Math.floor(columns / 2));
    const summary = this.summary();
    return [...lines.map((l) => progressLine(l, refWidth, columns)), summary.slice(0, columns - 1)];
  }

  private draw() {
    const rows = this.rows();
    // move up over the last block, then rewrite every line cleared
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    this.write(`${up}${rows.map((r) => `\r\x1b[2K${r}\n`).join('')}`);
    this.drawn = rows.length;
  }

  /** The last redraw (TTY), the result line, and on success the summary last (not a TTY). */
  finish(ok: boolean, result?: string) {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.draw();
    if (result) this.write(`${result}\n`);
    if (!this.tty && ok) this.write(`${this.summary()}\n`);
  }
}
