import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, startBerthd } from './support/harness.ts';
import { describeAsRoot } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';

/** The container log berthd keeps (berth-monitor writes it in the CRI format) and `berth logs` over the Logs service. */
describeAsRoot('container logs kept by berthd', () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  const berth = (args: string[]) => b.berth(args, { env: { BERTH_FIFO_DIR: fifoDir } });
  const logDir = (id: string) => join(b.root, 'logs', 'default', id);
  /** a detached container (berth run keeps its log by default), waited for when `wait` */
  const runLogged = (id: string, script: string, flags: string[] = [], wait = true) => {
    expect(berth(['run', '-d', '--net', 'none', ...flags, image, id, 'sh', '-c', script])).toEqual({ code: 0, stdout: `${id}\n`, stderr: '' });
    if (wait) expect(berth(['wait', id]).code).toBe(0);
  };

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-logs-fifo-'));
  });
  afterAll(async () => {
    if (b) {
      for (const id of berth(['ps', '-aq']).stdout.split('\n').filter(Boolean)) berth(['rm', '-f', id]);
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
  });

  it('keeps stdout and stderr apart, a line the process did not end as it is; --tail and --timestamps', () => {
    runLogged('l1', 'echo out1; echo err1 >&2; sleep 0.1; echo out2; printf "no newline"');
    expect(berth(['logs', 'l1'])).toMatchObject({ code: 0, stdout: 'out1\nout2\nno newline', stderr: 'err1\n' });
    expect(berth(['logs', '--tail', '2', 'l1'])).toMatchObject({ code: 0, stdout: 'out2\nno newline', stderr: '' });
    const stamped = berth(['logs', '-t', 'l1']).stdout.split('\n');
    expect(stamped[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1$/);
    expect(Math.abs(Date.parse(stamped[0]!.split(' ')[0]!) - Date.now())).toBeLessThan(60_000);
    expect(berth(['logs', '--since', '2999-01-01T00:00:00Z', 'l1'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(berth(['logs', '--since', '1h', 'l1']).stdout).toBe('out1\nout2\nno newline');
  });

  it('follows a running container to its exit', () => {
    runLogged('l2', 'for i in 1 2 3; do echo line$i; sleep 0.3; done', [], false);
    const started = Date.now();
    expect(berth(['logs', '-f', 'l2'])).toMatchObject({ code: 0, stdout: 'line1\nline2\nline3\n' });
    expect(Date.now() - started).toBeGreaterThan(300);
  });

  it('a detached container whose output nobody reads runs to its end', () => {
    runLogged('l3', 'head -c 1000000 /dev/zero | tr "\\0" y; echo; echo end');
    const out = berth(['logs', '--tail', '1', 'l3']).stdout;
    expect(out).toBe('end\n');
    expect(berth(['logs', 'l3']).stdout.length).toBe(1_000_000 + 1 + 4);
  });

  it('rotates by size within the label’s bounds and keeps the newest lines', () => {
    runLogged('l4', 'i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done', ['--log-opt', 'max-size=2000', '--log-opt', 'max-file=2']);
    expect(readdirSync(logDir('l4')).sort()).toEqual(['container.log', 'container.log.1']);
    const lines = berth(['logs', 'l4']).stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('line 199');
    expect(lines.length).toBeLessThan(200);
    expect(lines).toEqual(lines.map((_, i) => `line ${200 - lines.length + i}`));
  });

  it('removes the log with the container; a container that keeps none says so', () => {
    expect(existsSync(logDir('l1'))).toBe(true);
    expect(berth(['rm', 'l1']).code).toBe(0);
    expect(existsSync(logDir('l1'))).toBe(false);
    expect(berth(['run', '--log-driver', 'none', image, 'l5', 'true']).code).toBe(0);
    expect(berth(['logs', 'l5'])).toMatchObject({
      code: 1,
      stderr: 'berth: container l5 keeps no log (berth run keeps one; or start it with --log-uri file:///path)\n',
    });
    expect(berth(['run', '-d', '--log-opt', 'max-file=0', image, 'l6', 'true'])).toMatchObject({
      code: 1,
      stderr: 'berth: --log-opt max-file=0: give a whole number of files, 1 or more\n',
    });
    // a label set by another client is checked by berthd
    expect(berth(['containers', 'create', '--label', 'io.berth.log={"maxFiles":0}', image, 'l7', 'true']).code).toBe(0);
    expect(berth(['tasks', 'start', '-d', 'l7'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('label io.berth.log: maxFiles must be a whole number from 1 to 1000'),
    });
  });
});
