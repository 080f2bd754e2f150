// Runs CNI plugins as the CNI specification 1.0.0 says a runtime does (SPEC.md, "Execution
// protocol" and "Execution of Network Configurations"): each plugin is an executable named by its
// `type`, found in the plugin dirs, given its configuration on stdin and its parameters as CNI_*
// environment variables; it prints a result (or an error) as JSON on stdout.
import { spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { BerthError, type ErrorCode } from '../../../core/errors.ts';
import type { Logger } from '../../log.ts';
import type { CniAttachment, CniOps, CniResult, NetworkConfigList, PluginConf } from './types.ts';

export const defaultBinDirs = ['/usr/lib/cni', '/opt/cni/bin'];
export const defaultPluginTimeoutMs = 60_000;

/** The list versions berth speaks: those of Debian's plugins 1.1.1 that have CHECK or chaining. */
export const supportedVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

/** A plugin's stdout beyond this is not a result: the plugin is killed. */
const maxStdout = 1 << 20;
/** How much of a plugin's stderr is kept for an error message. */
const maxStderr = 16 << 10;

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Command = 'ADD' | 'CHECK' | 'DEL';

export interface CniRunnerOptions {
  /** where plugins are looked up, in order */
  binDirs?: string[];
  /** how long one plugin may run before it is killed */
  timeoutMs?: number;
  /** where failures of best-effort clean-ups are reported */
  log?: Logger;
}

export class CniRunner implements CniOps {
  readonly binDirs: string[];
  readonly timeoutMs: number;
  private readonly log: Logger | undefined;

  constructor(opts: CniRunnerOptions = {}) {
    this.binDirs = opts.binDirs ?? defaultBinDirs;
    this.timeoutMs = opts.timeoutMs ?? defaultPluginTimeoutMs;
    this.log = opts.log;
  }

  async add(list: NetworkConfigList, at: CniAttachment): Promise<CniResult> {
    checkList(list);
    checkAttachment(at, 'ADD');
    // a missing plugin is an error before anything is made
    for (const plugin of list.plugins) await this.find(plugin.type);
    let prev: CniResult | undefined;
    try {
      for (const plugin of list.plugins) prev = await this.exec('ADD', list, plugin, at, prev);
    } catch (err) {
      // undo what the plugins before the failing one (and maybe that one) did
      await this.del(list, at, prev).catch((delErr: Error) =>
        this.log?.warn('CNI DEL after a failed ADD failed', { network: list.name, container: at.containerId, error: delErr.message }),
      );
      throw err;
    }
    return prev as CniResult; // checkList made sure there is at least one plugin
  }

  async check(list: NetworkConfigList, at: CniAttachment, prevResult: CniResult): Promise<void> {
    checkList(list);
    checkAttachment(at, 'CHECK');
    if (list.disableCheck === true || !hasCheck(list.cniVersion)) return;
    for (const plugin of list.plugins) await this.exec('CHECK', list, plugin, at, prevResult);
  }

  /**
   * Runs every plugin's DEL in reverse order, also after one of them failed, and throws the first
   * failure. (The spec halts at the first failing plugin and leaves the rest to a later DEL; berth
   * runs DEL on every teardown path, and a plugin that is missing or fails must not keep the
   * others from releasing their veth, lease and rules.) A netns that no longer exists (or a
   * file that is no longer a namespace) is passed as an empty CNI_NETNS, which the spec allows
   * for DEL.
   */
  async del(list: NetworkConfigList, at: CniAttachment, prevResult?: CniResult): Promise<void> {
    checkList(list);
    checkAttachment(at, 'DEL');
    const netns = at.netns !== '' && (await isNetns(at.netns)) ? at.netns : '';
    // libcni passes prevResult on DEL from 0.4.0 on; 0.3.x plugins do not expect one
    const prev = hasCheck(list.cniVersion) ? prevResult : undefined;
    let first: unknown;
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.exec('DEL', list, plugin, { ...at, netns }, prev);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /** Runs one plugin once; its result for ADD, undefined for CHECK and DEL. */
  private async exec(
    command: Command,
    list: NetworkConfigList,
    plugin: PluginConf,
    at: CniAttachment,
    prevResult: CniResult | undefined,
  ): Promise<CniResult | undefined> {
    const what = `CNI plugin ${plugin.type} (${command}, network ${list.name})`;
    const bin = await this.find(plugin.type);
    const stdin = JSON.stringify(pluginInput(list, plugin, at, prevResult));
    const env = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: at.containerId,
      CNI_NETNS: at.netns,
      CNI_IFNAME: at.ifName,
      CNI_ARGS: cniArgs(at.args),
      CNI_PATH: this.binDirs.join(':'),
      PATH: process.env.PATH || defaultPath,
    };
    const out = await runPlugin(bin, stdin, env, this.timeoutMs, what);
    if (out.code !== 0) throw pluginError(what, out);
    if (out.stderr.trim() !== '') this.log?.debug('CNI plugin stderr', { plugin: plugin.type, command, network: list.name, stderr: out.stderr.trim() });
    if (command !== 'ADD') return undefined;
    let result: unknown;
    try {
      result = JSON.parse(out.stdout);
    } catch {
      throw new BerthError('Unknown', `${what}: the result is not JSON: ${preview(out.stdout)}`);
    }
    const bad = resultProblem(result, list.cniVersion);
    if (bad) throw new BerthError('Unknown', `${what}: a malformed result (${bad}): ${preview(out.stdout)}`);
    return result as CniResult;
  }

  /** The plugin's executable: the first `type` found in the plugin dirs. */
  private async find(type: string): Promise<string> {
    for (const dir of this.binDirs) {
      const path = join(dir, type);
      try {
        const st = await fs.stat(path);
        if (st.isFile()) {
          await fs.access(path, constants.X_OK);
          return path;
        }
      } catch {
        // not here (or not executable): the next dir
      }
    }
    throw new BerthError('FailedPrecondition', `CNI plugin ${type} not found in ${this.binDirs.join(', ')}`);
  }
}

/** The configuration a plugin gets on stdin (SPEC.md, "Deriving execution configuration from plugin configuration"). */
function pluginInput(list: NetworkConfigList, plugin: PluginConf, at: CniAttachment, prevResult: CniResult | undefined): Record<string, unknown> {
  const { capabilities, ...conf } = plugin;
  const input: Record<string, unknown> = { ...conf, cniVersion: list.cniVersion, name: list.name };
  delete input.runtimeConfig;
  delete input.prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(at.capabilityArgs ?? {})) {
    if (value !== undefined && capabilities?.[key] === true) runtimeConfig[key] = value;
  }
  if (Object.keys(runtimeConfig).length > 0) input.runtimeConfig = runtimeConfig;
  if (prevResult !== undefined) input.prevResult = prevResult;
  return input;
}

function cniArgs(args: Array<[string, string]> = []): string {
  return [['IgnoreUnknown', '1'], ...args].map(([k, v]) => `${k}=${v}`).join(';');
}

const hasCheck = (version: string) => version === '0.4.0' || version === '1.0.0';

function checkList(list: NetworkConfigList): void {
  // SPEC.md, "Configuration format": like a container id
  if (typeof list?.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(list.name)) {
    throw new BerthError('InvalidArgument', `CNI network name ${JSON.stringify(list?.name)} is not valid`);
  }
  if (!supportedVersions.includes(list.cniVersion)) {
    throw new BerthError(
      'InvalidArgument',
      `CNI network ${list.name}: cniVersion ${JSON.stringify(list.cniVersion)} is not supported (berth speaks ${supportedVersions.join(', ')})`,
    );
  }
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) throw new BerthError('InvalidArgument', `CNI network ${list.name} has no plugins`);
  for (const p of list.plugins) {
    if (typeof p !== 'object' || p === null || typeof p.type !== 'string') {
      throw new BerthError('InvalidArgument', `CNI network ${list.name}: a plugin without a type`);
    }
    // SPEC.md: `type` names the plugin's binary; berth takes plain file names only (no path, no ..)
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.type) || p.type.includes('..')) {
      throw new BerthError('InvalidArgument', `CNI network ${list.name}: plugin type ${JSON.stringify(p.type)} is not a plain file name`);
    }
  }
}

function checkAttachment(at: CniAttachment, command: Command): void {
  // SPEC.md, "Parameters": CNI_CONTAINERID starts with an alphanumeric, then alphanumerics, _ . -
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(at.containerId))
    throw new BerthError('InvalidArgument', `CNI container id ${JSON.stringify(at.containerId)} is not valid`);
  // a Linux interface name: at most 15 bytes, no '/', ':' or white space, not . or ..
  if (!/^[^/:\s]{1,15}$/.test(at.ifName) || at.ifName === '.' || at.ifName === '..')
    throw new BerthError('InvalidArgument', `CNI interface name ${JSON.stringify(at.ifName)} is not valid`);
  if (at.netns === '' && command !== 'DEL') throw new BerthError('InvalidArgument', `CNI ${command} needs a network namespace`);
  for (const [k, v] of at.args ?? []) {
    if (!/^[^=;]+$/.test(k) || v.includes(';')) throw new BerthError('InvalidArgument', `CNI argument ${JSON.stringify(`${k}=${v}`)} is not valid`);
  }
}

// statfs(2)'s f_type of the namespace filesystem (linux/magic.h)
const NSFS_MAGIC = 0x6e736673;

/** Whether path is (still) a namespace: a bound netns file, or /proc/<pid>/ns/net of a live process. */
async function isNetns(path: string): Promise<boolean> {
  return fs.statfs(path).then(
    (st) => st.type === NSFS_MAGIC,
    () => false,
  );
}

interface PluginOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs bin with stdin, in a process group of its own so that a timeout kills whatever it started
 * too. Resolves with its exit status and output; rejects on a timeout or an oversized stdout.
 */
function runPlugin(bin: string, stdin: string, env: NodeJS.ProcessEnv, timeoutMs: number, what: string): Promise<PluginOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let done = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      killGroup();
      reject(err);
    };
    const timer = setTimeout(() => fail(new BerthError('DeadlineExceeded', `${what}: no answer within ${timeoutMs} ms: killed`)), timeoutMs);

    child.once('error', (err) => fail(new BerthError('FailedPrecondition', `${what}: ${err.message}`)));
    // a plugin that exits without reading its configuration closes the pipe under us: not our error
    child.stdin!.on('error', () => {});
    child.stdin!.end(stdin);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) fail(new BerthError('Unknown', `${what}: printed more than ${maxStdout} bytes: killed`));
      else stdout.push(chunk);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < maxStderr) stderr += chunk.slice(0, maxStderr - stderr.length);
    });
    child.once('close', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const out = { code: code ?? 128, stdout: Buffer.concat(stdout).toString('utf8'), stderr };
      if (signal) out.stderr = `${stderr}${stderr ? '\n' : ''}killed by ${signal}`;
      resolve(out);
    });
  });
}

// SPEC.md, "Error": the well-known codes, as berth's error classes
const errorClasses: Record<number, ErrorCode> = {
  1: 'FailedPrecondition', // incompatible CNI version
  2: 'InvalidArgument', // unsupported field in network configuration
  3: 'NotFound', // container unknown or does not exist
  4: 'InvalidArgument', // invalid necessary environment variables
  6: 'InvalidArgument', // failed to decode content
  7: 'InvalidArgument', // invalid network config
  11: 'Unavailable', // try again later
};

interface CniErrorObject {
  code?: unknown;
  msg: string;
  details?: unknown;
}

function errorObject(text: string): CniErrorObject | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isObject(parsed) && typeof parsed.msg === 'string') return parsed as unknown as CniErrorObject;
  } catch {
    // not an error object
  }
  return undefined;
}

/**
 * A failed plugin's error: its CNI error object when it printed one (on stdout, where libcni and
 * the plugins' skel put it; SPEC.md's overview says stderr, so that is read too), else its stderr.
 */
function pluginError(what: string, out: PluginOutput): BerthError {
  const cniErr = errorObject(out.stdout) ?? errorObject(out.stderr);
  const stderr = out.stderr.trim();
  if (!cniErr) {
    const why = stderr || preview(out.stdout.trim()) || 'no output';
    return new BerthError('Unknown', `${what} failed (exit status ${out.code}): ${why}`);
  }
  const code = typeof cniErr.code === 'number' ? cniErr.code : undefined;
  const details = typeof cniErr.details === 'string' && cniErr.details !== '' ? `: ${cniErr.details}` : '';
  const err = new BerthError(
    (code !== undefined && errorClasses[code]) || 'Unknown',
    `${what} failed: ${cniErr.msg}${details}${code !== undefined ? ` (CNI error ${code})` : ''}`,
  );
  return err;
}

function preview(s: string): string {
  return s.length > 200 ? `${JSON.stringify(s.slice(0, 200))}...` : JSON.stringify(s);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (o: Record<string, unknown>, k: string) => o[k] === undefined || typeof o[k] === 'string';

/** What is wrong with a plugin's ADD result (SPEC.md, "Success"), or '' when its shape is right. */
function resultProblem(r: unknown, version: string): string {
  if (!isObject(r)) return 'not an object';
  if (r.cniVersion !== version) return `cniVersion ${JSON.stringify(r.cniVersion)}, not ${version}`;
  if (r.interfaces !== undefined) {
    if (!Array.isArray(r.interfaces)) return 'interfaces is not a list';
    for (const i of r.interfaces) {
      if (!isObject(i) || typeof i.name !== 'string' || !optString(i, 'mac') || !optString(i, 'sandbox')) return 'an interface without a name';
    }
  }
  if (r.ips !== undefined) {
    if (!Array.isArray(r.ips)) return 'ips is not a list';
    for (const ip of r.ips) {
      if (!isObject(ip) || typeof ip.address !== 'string' || !ip.address.includes('/')) return 'an ip without a CIDR address';
      if (!optString(ip, 'gateway')) return 'an ip with a gateway that is not a string';
      if (ip.interface !== undefined && !Number.isInteger(ip.interface)) return 'an ip whose interface is not an index';
    }
  }
  if (r.routes !== undefined) {
    if (!Array.isArray(r.routes)) return 'routes is not a list';
    for (const rt of r.routes) if (!isObject(rt) || typeof rt.dst !== 'string' || !optString(rt, 'gw')) return 'a route without a dst';
  }
  if (r.dns !== undefined && !isObject(r.dns)) return 'dns is not an object';
  return '';
}
