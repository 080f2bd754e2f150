// The OCI runtime driver: runc's (and crun's) command line, one spawn per operation. Each runc
// gets exactly the descriptors in `stdio` as 0-2 and nothing else (Node opens every other
// descriptor close-on-exec), so no descriptor of its caller reaches `runc init`.
import { type StdioOptions, spawn } from 'node:child_process';
import { promises as fs, statSync } from 'node:fs';
import { join } from 'node:path';
import { type AnyMessage, unpackAnyOf } from '../any.ts';
import { BerthError } from '../errors.ts';
import { findExecutable, systemBinDirs } from '../exec-path.ts';

/** The parts of containerd.runc.v1.Options berthd uses. */
export interface RuntimeOptions {
  binary_name?: string;
  root?: string;
  systemd_cgroup?: boolean;
}

/** The runc options of an Any (containerd.runc.v1.Options); none when it is unset. */
export function runtimeOptionsOf(any: AnyMessage | null | undefined): RuntimeOptions {
  if (!any?.type_url) return {};
  const o = unpackAnyOf<RuntimeOptions>(any, 'containerd.runc.v1.Options');
  return { binary_name: o.binary_name || undefined, root: o.root || undefined, systemd_cgroup: o.systemd_cgroup || undefined };
}

/** Where runc writes its log (--log, JSON lines) in a bundle. */
const runcLogFile = 'log.json';

/** The runtime of a task: runc's root is `<state>/runc/<namespace>` unless the options name another. */
export function runtimeFor(options: RuntimeOptions, namespace: string, bundle: string, state: string): Runc {
  const root = join(options.root || join(state, 'runc'), namespace);
  return new Runc(resolveBinary(options.binary_name || 'runc'), root, join(bundle, runcLogFile), options.systemd_cgroup === true);
}

const resolved = new Map<string, string>();

/** A bare runtime name as found in the system's binary directories (never $PATH). */
export function resolveBinary(name: string): string {
  if (name.includes('/')) return name;
  let path = resolved.get(name);
  if (path === undefined) {
    path = findExecutable(name, systemBinDirs);
    if (path === undefined) return name; // spawn reports it missing
    resolved.set(name, path);
  }
  return path;
}

export interface RunOptions {
  /** descriptors (or 'ignore') for runc's stdin, stdout, stderr; default: all /dev/null except a captured stderr */
  stdio?: [number | 'ignore', number | 'ignore', number | 'ignore'];
  input?: Buffer;
  cwd?: string;
}

export class Runc {
  constructor(
    readonly binary: string,
    readonly root: string,
    readonly logFile: string,
    readonly systemdCgroup: boolean,
  ) {}

  /** The arguments before the command: root, log and cgroup driver. */
  globalArgs(): string[] {
    const args = ['--root', this.root, '--log', this.logFile, '--log-format', 'json'];
    if (this.systemdCgroup) args.push('--systemd-cgroup');
    return args;
  }

  /** Runs one runc command; resolves with its stdout, or rejects with runc's own error message. */
  async run(args: string[], what: string, opts: RunOptions = {}): Promise<string> {
    let logStart = 0;
    try {
      logStart = statSync(this.logFile).size;
    } catch {
      // no log yet
    }
    const capture = opts.stdio === undefined;
    const stdio: StdioOptions = capture ? [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] : opts.stdio!;
    const result = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(this.binary, [...this.globalArgs(), ...args], { stdio, cwd: opts.cwd });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      if (opts.input && child.stdin) child.stdin.end(opts.input);
      child.once('error', (err) => reject(new BerthError('FailedPrecondition', `${this.binary}: ${err.message}`)));
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    if (result.code === 0) return result.stdout;
    const message =
      (await this.logErrors(logStart)) || lastLine(result.stderr) || (result.signal ? `killed by ${result.signal}` : `exit status ${result.code}`);
    throw new RuntimeError(what, message);
  }

  /** The error-level messages runc logged since offset. */
  private async logErrors(offset: number): Promise<string> {
    let text: string;
    try {
      const fh = await fs.open(this.logFile, 'r');
      try {
        const { size } = await fh.stat();
        const buf = Buffer.alloc(Math.max(0, size - offset));
        await fh.read(buf, 0, buf.length, offset);
        text = buf.toString('utf8');
      } finally {
        await fh.close();
      }
    } catch {
      return '';
    }
    const errors: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) errors.push(entry.msg);
      } catch {
        // not JSON: crun writes plain text on some paths
        errors.push(line.trim());
      }
    }
    return errors.join('; ');
  }

  create(id: string, bundle: string, pidFile: string, consoleSocket: string | undefined, stdio: RunOptions['stdio']): Promise<string> {
    const args = ['create', '--bundle', bundle, '--pid-file', pidFile];
    if (consoleSocket) args.push('--console-socket', consoleSocket);
    return this.run([...args, id], 'create', { stdio, cwd: bundle });
  }

  start(id: string): Promise<string> {
    return this.run(['start', id], 'start');
  }

  exec(id: string, processFile: string, pidFile: string, consoleSocket: string | undefined, stdio: RunOptions['stdio']): Promise<string> {
    const args = ['exec', '--detach', '--process', processFile, '--pid-file', pidFile];
    if (consoleSocket) args.push('--console-socket', consoleSocket);
    return this.run([...args, id], 'exec', { stdio });
  }

  kill(id: string, signal: number, all: boolean): Promise<string> {
    return this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)], 'kill');
  }

  delete(id: string, force: boolean): Promise<string> {
    return this.run(['delete', ...(force ? ['--force'] : []), id], 'delete');
  }

  /** runc's view of a container: created, running, paused or stopped. */
  async state(id: string): Promise<{ status: string; pid: number }> {
    return JSON.parse(await this.run(['state', id], 'state')) as { status: string; pid: number };
  }

  pause(id: string): Promise<string> {
    return this.run(['pause', id], 'pause');
  }

  resume(id: string): Promise<string> {
    return this.run(['resume', id], 'resume');
  }

  update(id: string, resources: Buffer): Promise<string> {
    return this.run(['update', '--resources', '-', id], 'update', { input: resources });
  }

  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id], 'ps');
    const pids = JSON.parse(out.trim() || '[]') as number[] | null;
    return pids ?? [];
  }
}

/** An OCI runtime command failed; `message` is the runtime's own words. */
export class RuntimeError extends BerthError {
  constructor(
    readonly command: string,
    readonly runtimeMessage: string,
  ) {
    super('Unknown', `OCI runtime ${command} failed: ${runtimeMessage}`);
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1]!.trim();
}
