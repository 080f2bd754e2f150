import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { eventually } from './support/util.ts';

/**
 * berth's interactive commands in a real terminal emulator (tmux, which answers a shell's
 * cursor-position query as a terminal does), typed at as a user types.
 */
describeAsRoot('berth in a terminal', [installed('tmux')], () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  const server = `berth-test-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', 'main').stdout;
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  // a Docker-style 64-hex id: the console socket must not live under the (long) process dir
  const id = 'a'.repeat(64);

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-term-fifo-'));
  }, 60_000);
  afterAll(async () => {
    tmux('kill-server');
    if (b) {
      b.berth(['rm', '-f', id], { env: { BERTH_FIFO_DIR: fifoDir } });
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
  });

  it('exec -it gives a shell (in a container with a 64-hex id) whose first prompt carries no stray terminal answer (^[[6;5R)', async () => {
    expect(b.berth(['run', '-d', image, id, 'sleep', '1000'], { env: { BERTH_FIFO_DIR: fifoDir } }).code).toBe(0);
    const command = [berthBin, '--address', b.address, 'exec', '-it', id, 'sh'].map(quote).join(' ');
    expect(tmux('new-session', '-d', '-s', 'main', '-x', '100', '-y', '20', `BERTH_FIFO_DIR=${quote(fifoDir)} ${command}; sleep 30`).status).toBe(0);
    const prompt = await eventually(screen, (s) => s.includes('/ #'), 15_000);
    expect(prompt).toContain('/ #');
    expect(prompt).not.toMatch(/\^\[|\[\d+;\d+R/);
    tmux('send-keys', '-t', 'main', 'echo typed-$((40+2))', 'Enter');
    const after = await eventually(screen, (s) => s.includes('typed-42'), 10_000);
    expect(after).toContain('typed-42');
    expect(after).not.toMatch(/\^\[|\[\d+;\d+R/);
    tmux('send-keys', '-t', 'main', 'exit', 'Enter');
  });
});
