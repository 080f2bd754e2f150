import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CriBerthd, cniBinDir, startCriBerthd } from './support/cri.ts';
import type { Berthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage } from './support/run-image.ts';
import { remoteCommand, SpdyClient } from './support/spdy-client.ts';
import { eventually, sleep } from './support/util.ts';
import { WsClient } from './support/ws-client.ts';

const image = 'berth.test/pause:1';

describeAsRoot('CRI exec and streaming server', [installed(join(cniBinDir, 'bridge')), installed('iptables-save')], () => {
  let cri: CriBerthd;
  let daemon: Berthd;
  let dir: string;
  const ctr = 'stream-target';
  const pods: string[] = [];

  const call = <T>(method: string, req: unknown): Promise<T> => cri.call<T>(method, req);
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (err: grpc.ServiceError) => grpc.status[err.code],
    );
  const execSync = (cmd: string[], timeout = 10) =>
    call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: ctr, cmd, timeout });
  const execUrl = async (req: Record<string, unknown>) => (await call<{ url: string }>('Exec', { container_id: ctr, stdout: true, ...req })).url;
  const execDirs = () => {
    const d = join(daemon.state, 'io.containerd.grpc.v1.cri', 'exec');
    return existsSync(d) ? readdirSync(d) : [];
  };
  const processes = async () => (await execSync(['ps', '-o', 'args'])).stdout.toString();
  const status_ = (text: string) => JSON.parse(text) as unknown;
  const status = (text: string) => JSON.parse(text) as { status: string; reason?: string; details?: { causes: Array<{ reason: string; message: string }> } };

  beforeAll(async () => {
    const img = buildRunImage({ name: image, config: { Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /work & wait'] } });
    cri = await startCriBerthd({ prefix: 'berth-cri-stream-', pauseImage: image, images: [img], settings: ['  stream_server_port = "0"'] });
    ({ daemon, dir } = cri);
    // a container record of the CRI's kind, made with berth's own CLI
    const run = daemon.berth(['-n', 'k8s.io', 'run', '-d', '--net', 'none', '--label', 'io.cri-containerd.kind=container', image, ctr, 'sleep', '3600']);
    if (run.code !== 0) throw new Error(`berth run: ${run.stderr}`);
  }, 90_000);

  afterAll(async () => {
    if (daemon) {
      daemon.berth(['-n', 'k8s.io', 'tasks', 'kill', '-s', 'KILL', ctr]);
      await sleep(200);
      daemon.berth(['-n', 'k8s.io', 'rm', '-f', ctr]);
    }
    await cri?.cleanup(pods);
  });

  it('ExecSync: stdout, stderr and the exit code (0 and not), each exec deleted with its FIFOs', async () => {
    const r = await execSync(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect({ stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit: r.exit_code }).toEqual({ stdout: 'out\n', stderr: 'err\n', exit: 3 });
    const ok = await execSync(['cat', '/etc/hostname']);
    expect(ok.exit_code).toBe(0);
    expect(ok.stdout.length).toBeGreaterThan(0);
    expect(execDirs()).toEqual([]);
    // a command that cannot start: an error, and the exec is gone all the same
    const started = Date.now();
    expect(await code(execSync(['/no/such/binary']))).not.toBe('OK');
    expect(Date.now() - started).toBeLessThan(4000);
    expect(execDirs()).toEqual([]);
    expect(await code(execSync(['true'].slice(0, 0)))).toBe('INVALID_ARGUMENT');
    expect(await code(call('ExecSync', { container_id: 'no-such-container', cmd: ['true'], timeout: 1 }))).toBe('NOT_FOUND');
    // a unique prefix names the container; a pod's sandbox is no container to exec in
    expect((await call<{ stdout: Buffer }>('ExecSync', { container_id: ctr.slice(0, 8), cmd: ['echo', 'by prefix'], timeout: 5 })).stdout.toString()).toBe(
      'by prefix\n',
    );
  });

  it('ExecSync with a timeout kills the command (DEADLINE_EXCEEDED) and leaves no process behind', async () => {
    const started = Date.now();
    expect(await code(execSync(['sleep', '4321'], 1))).toBe('DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(8000);
    expect(await processes()).not.toContain('sleep 4321');
    expect(execDirs()).toEqual([]);
  });

  it('ExecSync output past 16 MiB: RESOURCE_EXHAUSTED, as containerd (its capped output no longer fits the gRPC message), and nothing left behind', async () => {
    const r = await execSync(['sh', '-c', 'head -c 15000000 /dev/zero; echo done >&2'], 30);
    expect(r.stdout.length).toBe(15_000_000);
    expect(r.stderr.toString()).toBe('done\n');
    expect(await code(execSync(['head', '-c', '17000000', '/dev/zero'], 30))).toBe('RESOURCE_EXHAUSTED');
    expect(await processes()).not.toContain('head');
    expect(execDirs()).toEqual([]);
  }, 60_000);

  it('Exec (v4): stdout and stderr apart, and a non-zero exit as the Status client-go reads', async () => {
    const url = await execUrl({ cmd: ['sh', '-c', 'echo hello; echo oops >&2; exit 7'], stderr: true });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{8}$/);
    const r = await remoteCommand(url, { stderr: true });
    expect(r.protocol).toBe('v4.channel.k8s.io');
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toBe('oops\n');
    expect(status(r.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    const ok = await remoteCommand(await execUrl({ cmd: ['echo', 'fine'] }));
    expect(ok.stdout).toBe('fine\n');
    expect(JSON.parse(ok.error)).toEqual({ metadata: {}, status: 'Success' });
    expect(execDirs()).toEqual([]);
  });

  it('Exec with stdin: what the client sends reaches the command, and the close of its stream is the end of its stdin', async () => {
    const url = await execUrl({ cmd: ['sh', '-c', 'cat; echo "stdin closed"'], stdin: true });
    const r = await remoteCommand(url, {
      stdin: true,
      drive: async ({ stdin }) => {
        stdin!.write('first line\n');
        await sleep(100);
        stdin!.end('second line\n');
      },
    });
    expect(r.stdout).toBe('first line\nsecond line\nstdin closed\n');
    expect(JSON.parse(r.error).status).toBe('Success');
  });

  it('Exec with a tty: one output stream, TERM=xterm, and the size the client sends is what stty sees, at once and after a resize', async () => {
    // stty first thing: the process starts at the client's first size, not 0x0 until a resize lands
    const url = await execUrl({ cmd: ['sh', '-c', 'stty size; read line; stty size; echo "$TERM"; [ -t 0 ] && echo tty'], tty: true, stdin: true });
    const r = await remoteCommand(url, {
      tty: true,
      stdin: true,
      drive: async ({ resize, stdin, stdout }) => {
        resize!.write(`${JSON.stringify({ Width: 100, Height: 40 })}\n`);
        await stdout!.until(() => stdout!.text().includes('40 100'), 10_000, 'the first stty');
        resize!.write(`${JSON.stringify({ Width: 132, Height: 50 })}\n`);
        await new Promise((r) => setTimeout(r, 300));
        stdin!.write('go\r');
      },
    });
    expect(r.stdout.replace(/\r/g, '')).toBe('40 100\ngo\n50 132\nxterm\ntty\n');
    expect(JSON.parse(r.error).status).toBe('Success');
  });

  it('older subprotocols: v3 and v2 report a non-zero exit as text; no protocol header means channel.k8s.io', async () => {
    for (const p of ['v3.channel.k8s.io', 'v2.channel.k8s.io']) {
      const r = await remoteCommand(await execUrl({ cmd: ['sh', '-c', 'echo x; exit 2'] }), { protocols: [p] });
      expect(r).toMatchObject({ protocol: p, stdout: 'x\n' });
      expect(r.error).toMatch(/non-zero exit code.*exit code 2/);
    }
    const ok = await remoteCommand(await execUrl({ cmd: ['true'] }), { protocols: ['v2.channel.k8s.io'] });
    expect(ok.error).toBe('');
    const bare = await SpdyClient.upgrade(await execUrl({ cmd: ['true'] }), []);
    expect(bare.status).toBe(101);
    expect(bare.headers['x-stream-protocol-version']).toBeUndefined();
    bare.client?.close();
  });

  it('Exec over WebSocket (v4.channel.k8s.io and its base64 form): a ready message, the channels, the exit status on the error channel', async () => {
    const { status, client } = await WsClient.open(
      await execUrl({ cmd: ['sh', '-c', 'read l; echo "got $l"; echo oops >&2; exit 3'], stdin: true, stderr: true }),
      ['v4.channel.k8s.io'],
    );
    expect(status).toBe(101);
    const ws = client!;
    expect(ws.protocol).toBe('v4.channel.k8s.io');
    await ws.until(() => ws.messages.length > 0);
    // the empty message on the lowest channel the server writes: it is ready
    expect(ws.messages[0]).toEqual({ op: 2, data: Buffer.from([1]) });
    ws.frame(9, Buffer.from('are you there'));
    ws.sendChannel(0, 'line\n');
    await ws.until(() => ws.closed);
    expect(ws.channel(1)).toBe('got line\n');
    expect(ws.channel(2)).toBe('oops\n');
    expect(status_(ws.channel(3))).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    expect(ws.messages.filter((m) => m.op === 10).map((m) => m.data.toString())).toEqual(['are you there']);
    expect(ws.messages.at(-1)).toEqual({ op: 8, data: Buffer.from([0x03, 0xe8]) });

    const b = (await WsClient.open(await execUrl({ cmd: ['echo', 'in base64'] }), ['v4.base64.channel.k8s.io'])).client!;
    await b.until(() => b.closed);
    expect(b.channel(1, true)).toBe('in base64\n');
    expect(JSON.parse(b.channel(3, true))).toEqual({ metadata: {}, status: 'Success' });

    // a client frame that is not masked: closed with 1002; a protocol berth lacks: 400
    const u = (await WsClient.open(await execUrl({ cmd: ['sleep', '30'] }), ['v4.channel.k8s.io'])).client!;
    u.frame(2, Buffer.from([0, 1]), { unmasked: true });
    await u.until(() => u.closed);
    expect(u.messages.at(-1)).toEqual({ op: 8, data: Buffer.from([0x03, 0xea]) });
    expect((await WsClient.open(await execUrl({ cmd: ['true'] }), ['v9.channel.k8s.io'])).status).toBe(400);
    await eventually(processes, (ps) => !ps.includes('sleep 30'));
    expect(await eventually(execDirs, (d) => d.length === 0)).toEqual([]);
  });

  it('refuses what is not a valid upgrade: a protocol it lacks (403), a used or unknown token (404), no upgrade (400), not SPDY (400)', async () => {
    const url = await execUrl({ cmd: ['true'] });
    const refused = await SpdyClient.upgrade(url, ['v9.channel.k8s.io']);
    expect(refused.status).toBe(403);
    expect(refused.headers['x-accepted-stream-protocol-versions']).toEqual(['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']);
    expect((await SpdyClient.upgrade(url, ['v4.channel.k8s.io'])).status).toBe(404);
    expect((await SpdyClient.upgrade(url.replace(/[^/]+$/, 'AAAAAAAA'), ['v4.channel.k8s.io'])).status).toBe(404);
    const plain = await fetch(await execUrl({ cmd: ['true'] }), { method: 'POST' });
    expect(plain.status).toBe(400);
    await plain.text();
    expect((await SpdyClient.upgrade(await execUrl({ cmd: ['true'] }), [], { upgrade: 'websocket' })).status).toBe(400);
    // the RPCs check what the kubelet's server checks
    expect(await code(call('Exec', { container_id: ctr, cmd: ['true'], tty: true, stderr: true }))).toBe('INVALID_ARGUMENT');
    expect(await code(call('Exec', { container_id: ctr, cmd: ['true'] }))).toBe('INVALID_ARGUMENT');
    expect(await code(call('Exec', { container_id: 'nope', cmd: ['true'], stdout: true }))).toBe('NOT_FOUND');
  });

  it('bad frames: RST_STREAM for a bad stream, GOAWAY for a broken session; PING is answered; the server serves on', async () => {
    const up = await SpdyClient.upgrade(await execUrl({ cmd: ['sleep', '30'] }), ['v4.channel.k8s.io']);
    const c = up.client!;
    const open = await c.open({ streamtype: 'error' });
    c.ping(7);
    c.sendData(41, Buffer.from('to nobody'), false);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(open.id, 0);
    huge.writeUInt32BE(2 << 20, 4); // a data frame announcing 2 MiB (over the 1 MiB limit)
    c.raw(huge);
    c.raw(Buffer.alloc(2 << 20));
    c.sendControl(9, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])); // WINDOW_UPDATE of 0 for the session
    await eventually(
      () => c.controls,
      (cs) => cs.some((x) => x.type === 7),
      5000,
    );
    expect(c.controls.filter((x) => x.type === 6)).toEqual([{ type: 6, flags: 0, id: 7 }]);
    expect(c.controls.filter((x) => x.type === 3)).toEqual([
      { type: 3, flags: 0, streamId: 41, status: 2 }, // INVALID_STREAM
      { type: 3, flags: 0, streamId: 1, status: 11 }, // FRAME_TOO_LARGE
    ]);
    expect(c.goAway).toEqual({ lastGoodStreamId: 1, status: 1 }); // PROTOCOL_ERROR
    await c.waitClosed();
    expect(c.errors).toEqual([]);

    // a control frame of another SPDY version, and a client stream id that is even
    for (const bad of [Buffer.from([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]), Buffer.from([0x80, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0])]) {
      const u = await SpdyClient.upgrade(await execUrl({ cmd: ['true'] }), ['v4.channel.k8s.io']);
      u.client!.raw(bad);
      await u.client!.waitClosed();
      expect(u.client!.goAway?.status).toBe(1);
    }
    // garbage that is not SPDY at all
    const g = await SpdyClient.upgrade(await execUrl({ cmd: ['true'] }), ['v4.channel.k8s.io']);
    g.client!.raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await g.client!.waitClosed();
    // the exec whose client went away was killed, and berthd still serves
    await eventually(processes, (ps) => !ps.includes('sleep 30'));
    expect(await processes()).not.toContain('sleep 30');
    expect((await execSync(['echo', 'alive'])).stdout.toString()).toBe('alive\n');
    expect(execDirs()).toEqual([]);
  });

  it('flow control: with a client that announces a small window the server sends no more than it, then the rest as the window grows', async () => {
    const url = await execUrl({ cmd: ['head', '-c', '5000', '/dev/zero'] });
    const up = await SpdyClient.upgrade(url, ['v4.channel.k8s.io'], { recvWindow: 1024 });
    const c = up.client!;
    c.holdWindow = true;
    const error = await c.open({ streamtype: 'error' });
    const stdout = await c.open({ streamtype: 'stdout' });
    await stdout.until(() => Buffer.concat(stdout.chunks).length >= 1024, 10_000, '1024 bytes');
    await sleep(500);
    expect(Buffer.concat(stdout.chunks).length).toBe(1024);
    c.holdWindow = false;
    c.windowUpdate(stdout.id, 8192);
    expect((await stdout.ended()).length).toBe(5000);
    expect(JSON.parse(await error.ended()).status).toBe('Success');
    c.close();
  });

  it("Attach to a CRI container: its output from the attach on (stdout and stderr apart), the client's stdin into its stdin; it ends when the container does", async () => {
    const config = {
      metadata: { name: 'att', uid: 'uid-att', namespace: 'berth-test', attempt: 0 },
      log_directory: join(dir, 'logs-att'),
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: pod } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' });
    pods.push(pod);
    const script = 'echo started; while read l; do [ "$l" = quit ] && exit 0; echo "got $l"; echo "err $l" >&2; done';
    const { container_id: id } = await call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      config: { metadata: { name: 'echoer', attempt: 0 }, image: { image }, command: ['sh', '-c', script], stdin: true, log_path: 'echoer.log' },
      sandbox_config: config,
    });
    await call('StartContainer', { container_id: id });
    const log = join(dir, 'logs-att', 'echoer.log');
    await eventually(
      () => (existsSync(log) ? readFileSync(log, 'utf8') : ''),
      (t) => t.includes('started'),
    );
    const { url } = await call<{ url: string }>('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
    expect(url).toMatch(/\/attach\/[A-Za-z0-9_-]{8}$/);
    const r = await remoteCommand(url, {
      stdin: true,
      stderr: true,
      drive: async ({ stdin, stdout }) => {
        stdin!.write('one\n');
        await stdout!.until(() => stdout!.text().includes('got one'), 10_000, 'the echo');
        stdin!.write('quit\n');
      },
    });
    expect(r.stdout).toBe('got one\n');
    expect(r.stderr).toBe('err one\n');
    expect(JSON.parse(r.error).status).toBe('Success');
    expect(await code(call('Attach', { container_id: id, stdout: true }))).toBe('FAILED_PRECONDITION');
    expect(await code(call('Attach', { container_id: 'nope', stdout: true }))).toBe('NOT_FOUND');
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it('Attach to a CRI container with no log (no log directory): its output still reaches the attach, from a small file of berthd that goes with the container', async () => {
    const config = {
      metadata: { name: 'att-nolog', uid: 'uid-att-nolog', namespace: 'berth-test', attempt: 0 },
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: pod } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' });
    pods.push(pod);
    const { container_id: id } = await call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod,
      config: { metadata: { name: 'shell', attempt: 0 }, image: { image }, command: ['/bin/sh'], stdin: true },
      sandbox_config: config,
    });
    await call('StartContainer', { container_id: id });
    const { url } = await call<{ url: string }>('Attach', { container_id: id, stdin: true, stdout: true, stderr: true });
    const r = await remoteCommand(url, {
      stdin: true,
      stderr: true,
      drive: async ({ stdin, stdout }) => {
        stdin!.write('echo hello\n');
        await stdout!.until(() => stdout!.text().includes('hello'), 10_000, 'the echo');
        stdin!.write('exit 0\n');
      },
    });
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toBe('');
    const output = join(daemon.state, 'io.containerd.grpc.v1.cri', 'containers', id, 'output.log');
    expect(readFileSync(output, 'utf8')).toMatch(/ stdout F hello\n/);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
    expect(existsSync(output)).toBe(false);
  });

  it('PortForward: a connection to a port of the pod, inside its network namespace; a closed port is an error on the error stream', async () => {
    const config = {
      metadata: { name: 'pf', uid: 'uid-pf', namespace: 'berth-test', attempt: 0 },
      log_directory: join(dir, 'logs'),
      // pid POD: the pod has a pause, and the test's pause serves HTTP on 8080
      linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: pod } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' });
    pods.push(pod);
    // nothing on the host's 127.0.0.1:8080 answers for the pod: the port is only inside its netns
    const url = (await call<{ url: string }>('PortForward', { pod_sandbox_id: pod, port: [] })).url;
    expect(url).toMatch(/\/portforward\/[A-Za-z0-9_-]{8}$/);
    const up = await SpdyClient.upgrade(url, ['portforward.k8s.io']);
    expect(up.headers['x-stream-protocol-version']).toBe('portforward.k8s.io');
    const c = up.client!;
    const get = async (port: number, requestId: number) => {
      const error = await c.open({ streamtype: 'error', port: String(port), requestid: String(requestId) });
      error.end();
      const data = await c.open({ streamtype: 'data', port: String(port), requestid: String(requestId) });
      data.write('GET /hello.txt HTTP/1.0\r\n\r\n');
      return { data, error };
    };
    // the pause starts its httpd in the background: wait until it listens
    let requestId = 10;
    await eventually(
      async () => (await (await get(8080, requestId++)).data.ended()).length,
      (n) => n > 0,
    );
    const a = await get(8080, 0);
    const b = await get(8080, 1);
    for (const { data, error } of [a, b]) {
      const reply = await data.ended();
      expect(reply).toMatch(/^HTTP\/1\.[01] 200/);
      expect(reply).toContain('hello from the run image\n');
      // the client's side of the data stream is still open: the server ends the pair all the same
      expect(await error.ended(5000)).toBe('');
    }
    const closed = await get(9, 2);
    expect(await closed.error.ended()).toMatch(/port 9.*(refused|ECONNREFUSED)/);
    expect(c.errors).toEqual([]);
    c.close();
    expect(await code(call('ExecSync', { container_id: pod, cmd: ['true'], timeout: 5 }))).toBe('NOT_FOUND');
    await call('StopPodSandbox', { pod_sandbox_id: pod });
    expect(await code(call('PortForward', { pod_sandbox_id: pod, port: [] }))).toBe('FAILED_PRECONDITION');
    expect(await code(call('PortForward', { pod_sandbox_id: 'nope', port: [] }))).toBe('NOT_FOUND');
  });
});
