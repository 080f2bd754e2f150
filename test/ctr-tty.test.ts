import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { eventually } from './support/util.ts';

/**
 * Terminals end to end: `ctr run -t` (containerd's client) and `berth run -t` against berthd,
 * each inside a pseudo-terminal of util-linux script(1) sized 91x33. The container sees a tty
 * of its own, of our size; its output arrives; a resize of our terminal reaches it (SIGWINCH →
 * Tasks.ResizePty → the monitor's pty master); the exit code is the container's.
 */
const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describeAsRoot('ctr run -t / berth run -t against berthd', [installed('script')], () => {
  let b: Berthd;
  let image: string;
  let shared: string;
  let fifoDir: string;
  const ns = 'ctrtty';

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b, { ns });
    shared = mkdtempSync(join(tmpdir(), 'berth-tty-'));
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-tty-fifo-'));
  }, 60_000);
  afterAll(async () => {
    if (b) {
      for (const id of b.ctr(['-n', ns, 'tasks', 'ls', '-q']).stdout?.split('\n').filter(Boolean) ?? [])
        b.ctr(['-n', ns, 'tasks', 'kill', '-s', 'SIGKILL', id]);
      await b.cleanup();
    }
    for (const d of [shared, fifoDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /**
   * The container: its tty and size (once the client has set ours: ctr 1.6 puts no consoleSize
   * in the spec and resizes after Start, so the pty may start at 0x0), then a marker file in the
   * shared dir; the test's terminal is then resized to 120x50 and the container prints the new
   * size once it sees it, and exits 3.
   */
  const script = (marker: string) =>
    [
      'tty',
      'i=0; while [ "$(stty size 2>/dev/null)" != "33 91" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      'stty size',
      `touch /shared/${marker}`,
      'i=0; while [ "$(stty size 2>/dev/null)" != "50 120" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      'stty size',
      'exit 3',
    ].join('; ');

  /** Runs `client` in script's terminal (91x33), resizing it to 120x50 when the marker appears. */
  async function inTerminal(client: string[], marker: string): Promise<{ code: number | null; lines: string[] }> {
    const file = join(shared, marker);
    // (an asynchronous list's stdin is /dev/null: stty is pointed at the terminal)
    const resize = `(i=0; while [ ! -e ${quote(file)} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; stty cols 120 rows 50 </dev/tty) &`;
    const inner = `stty cols 91 rows 33; ${resize} exec ${client.map(quote).join(' ')}`;
    // script's stdin stays open while the client runs: at its EOF script would type an EOF character
    const p = spawn('script', ['-qefc', inner, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, BERTH_FIFO_DIR: fifoDir } });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    p.stdin!.destroy();
    return { code, lines: out.replace(/\r/g, '').split('\n').filter(Boolean) };
  }

  const mount = () => `type=bind,src=${shared},dst=/shared,options=rbind:rw`;

  it("ctr run -t --rm: a tty inside, our size, resize, the container's exit code", async () => {
    const r = await inTerminal(
      ['ctr', '--address', b.address, '-n', ns, 'run', '-t', '--rm', '--mount', mount(), image, 'ctr-tty', 'sh', '-c', script('ctr-ready')],
      'ctr-ready',
    );
    expect(r.lines).toEqual(['/dev/pts/0', '33 91', '50 120']);
    expect(r.code).toBe(3);
    expect(existsSync(join(shared, 'ctr-ready'))).toBe(true);
    expect(b.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).toBe('');
  }, 60_000);

  it('berth run -t --rm: the same', async () => {
    const r = await inTerminal(
      [berthBin, '--address', b.address, '-n', ns, 'run', '-t', '--rm', '--mount', mount(), image, 'berth-tty', 'sh', '-c', script('berth-ready')],
      'berth-ready',
    );
    expect(r.lines).toEqual(['/dev/pts/0', '33 91', '50 120']);
    expect(r.code).toBe(3);
    // berthd removes it once the process exited; berth run does not wait for that
    expect(
      await eventually(
        () => b.berth(['-n', ns, 'containers', 'ls', '-q']).stdout,
        (s) => s === '',
      ),
    ).toBe('');
  }, 60_000);

  it('ctr tasks exec -t into a berth container: its own tty, input typed at the terminal', async () => {
    expect(b.berth(['-n', ns, 'run', '-d', '--null-io', image, 'host', 'sleep', '1000'], { env: { BERTH_FIFO_DIR: fifoDir } }).code).toBe(0);
    const execScript =
      'tty; i=0; while [ "$(stty size 2>/dev/null)" != "33 91" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; stty size; read line; echo "got $line"; exit 4';
    const p = spawn(
      'script',
      [
        '-qefc',
        `stty cols 91 rows 33; exec ctr --address ${quote(b.address)} -n ${ns} tasks exec -t --exec-id ex host sh -c ${quote(execScript)}`,
        '/dev/null',
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    for (let i = 0; i < 200 && !/33 91\r*\n/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    p.stdin!.write('typed\r');
    const code = await exited;
    p.stdin!.destroy();
    const lines = out.replace(/\r/g, '').split('\n').filter(Boolean);
    // the exec's tty is another pts of the container's devpts; the typed line is echoed by it
    expect(lines[0]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(lines.slice(1)).toEqual(['33 91', 'typed', 'got typed']);
    expect(code).toBe(4);
    expect(b.berth(['-n', ns, 'tasks', 'kill', '-s', 'KILL', 'host']).code).toBe(0);
    expect(b.berth(['-n', ns, 'tasks', 'wait', 'host']).stdout).toBe('137\n');
    expect(b.berth(['-n', ns, 'tasks', 'rm', 'host']).code).toBe(0);
    expect(b.berth(['-n', ns, 'containers', 'rm', 'host']).code).toBe(0);
  }, 60_000);
});
