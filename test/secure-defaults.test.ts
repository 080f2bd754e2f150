import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, startBerthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage, loadRunImage } from './support/run-image.ts';

/**
 * What every container berth's CLI creates gets without asking (issue #15), in real containers
 * run by runc: the default seccomp profile, containerd 1.7's masked and read-only paths, uids
 * and gids in 0..2^31-1, and no host-side labels taken from the image.
 */

/**
 * A static probe that makes the syscalls the default profile decides on by argument or by
 * capability, and prints one line per call: "name ok" or "name EPERM" (errno names).
 */
const probeSource = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long r) {
  if (r >= 0) { printf("%s ok\n", name); return; }
  const char *e = errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : errno == EINVAL ? "EINVAL" : errno == EAFNOSUPPORT ? "EAFNOSUPPORT" : "other";
  printf("%s %s\n", name, e);
}

int main(void) {
  report("socket-unix", socket(AF_UNIX, SOCK_STREAM, 0));
  report("socket-vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
  report("socket-alg", socket(38 /* AF_ALG */, SOCK_SEQPACKET, 0));
  report("personality-query", personality(0xffffffff));
  report("personality-bsd", personality(0x0006 /* PER_BSD */));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("unshare-user", unshare(CLONE_NEWUSER));
  return 0;
}
`;

describeAsRoot('secure defaults in real containers', [installed('gcc')], () => {
  let b: Berthd;
  let image: string;
  let scratch: string;
  let probeMount: string;
  const berth = (args: string[]) => b.berth(args, { env: { BERTH_FIFO_DIR: join(scratch, 'fifo') } });
  const snapshots = () => berth(['snapshots', 'ls']).stdout;
  const containers = () => berth(['containers', 'ls', '-q']).stdout;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'berth-secure-'));
    const src = join(scratch, 'probe.c');
    writeFileSync(src, probeSource);
    const cc = spawnSync('gcc', ['-static', '-O1', '-o', join(scratch, 'probe'), src], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    probeMount = `type=bind,src=${scratch},dst=/probe,options=rbind:ro`;
    b = await startBerthd();
    image = await loadRunImage(b);
  }, 60_000);

  afterAll(async () => {
    if (b) {
      for (const id of berth(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) berth(['tasks', 'rm', '-f', id]);
      for (const id of containers().split('\n').filter(Boolean)) berth(['containers', 'rm', id]);
      await b.cleanup();
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const probe = (id: string, flags: string[] = []) => {
    const r = berth(['run', '--rm', '--mount', probeMount, ...flags, image, id, '/probe/probe']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
  };

  it('the default seccomp profile denies with EPERM what it does not allow, by argument too', () => {
    expect(probe('sc1')).toEqual({
      'socket-unix': 'ok',
      'socket-vsock': 'EPERM',
      'socket-alg': 'EPERM',
      'personality-query': 'ok',
      'personality-bsd': 'EPERM',
      // ENOSYS so that libc falls back to clone
      clone3: 'ENOSYS',
      keyctl: 'EPERM',
      'unshare-user': 'EPERM',
    });
    const r = berth(['run', '--rm', image, 'sc2', 'unshare', '-U', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it('seccomp=unconfined and --privileged run without it', () => {
    for (const [id, flags] of [
      ['sc3', ['--security-opt', 'seccomp=unconfined']],
      ['sc4', ['--privileged']],
    ] as const) {
      const got = probe(id, [...flags]);
      expect(got['socket-vsock']).not.toBe('EPERM');
      expect(got['socket-alg']).not.toBe('EPERM');
      expect(got['personality-bsd']).toBe('ok');
      expect(got.clone3).toBe('EINVAL');
      expect(got['unshare-user']).toBe('ok');
      expect(berth(['run', '--rm', ...flags, image, `${id}u`, 'unshare', '-U', 'true'])).toEqual({ code: 0, stdout: '', stderr: '' });
    }
  });

  it('CAP_SYS_ADMIN brings the namespace syscalls back (the profile follows the capabilities)', () => {
    expect(probe('sc5', ['--cap-add', 'SYS_ADMIN'])['unshare-user']).toBe('ok');
  });

  it('--seccomp-profile and seccomp=FILE: an OCI profile, and a Docker one resolved for this host', () => {
    const oci = join(scratch, 'oci.json');
    writeFileSync(oci, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const r = berth(['run', '--rm', '--seccomp-profile', oci, image, 'sc6', 'mkdir', '/tmp/d']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Operation not permitted/);
    // a Docker profile: the rules for another architecture, for a capability the container
    // lacks and the one excluding this architecture are left out, so mkdir is allowed; the
    // rule excluding a capability it lacks is kept, so hostname is denied
    const docker = join(scratch, 'docker.json');
    writeFileSync(
      docker,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        archMap: [
          { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] },
          { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        ],
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', includes: { arches: ['s390x'] } },
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_MODULE'] } },
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', excludes: { arches: ['amd64', 'arm64'] } },
          { name: 'sethostname', action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_MODULE'] } },
        ],
      }),
    );
    expect(berth(['run', '--rm', '--security-opt', `seccomp=${docker}`, image, 'sc7', 'mkdir', '/tmp/d'])).toEqual({ code: 0, stdout: '', stderr: '' });
    const h = berth(['run', '--rm', '--cap-add', 'SYS_ADMIN', '--security-opt', `seccomp=${docker}`, image, 'sc8', 'hostname', 'x']);
    expect(h.code).toBe(1);
    expect(h.stderr).toMatch(/Operation not permitted/);
    const bad = berth(['run', '--rm', '--seccomp-profile', join(scratch, 'nosuch.json'), image, 'sc9', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^berth: cannot read the seccomp profile .*nosuch\.json: ENOENT\n$/);
    expect(containers()).toBe('');
  });

  it('masked paths read empty and /proc/sys is read-only; --privileged clears both', () => {
    const created = berth(['containers', 'create', image, 'mp1', 'true']);
    expect(created.code).toBe(0);
    const spec = JSON.parse(berth(['containers', 'info', '--spec', 'mp1']).stdout) as { linux: { maskedPaths: string[]; readonlyPaths: string[] } };
    expect(berth(['containers', 'rm', 'mp1']).code).toBe(0);
    expect(spec.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/sys/devices/virtual/powercap', '/proc/keys', '/proc/timer_list']));
    expect(spec.linux.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    // runc masks what exists: a file becomes /dev/null, a directory an empty read-only tmpfs
    const present = spec.linux.maskedPaths.filter((p) => existsSync(p));
    expect(present).toContain('/proc/timer_list');
    const script = present.map((p) => `if [ -d ${p} ]; then echo ${p} $(ls -A ${p} | wc -l); else echo ${p} $(cat ${p} | wc -c); fi`).join('; ');
    const r = berth(['run', '--rm', image, 'mp2', 'sh', '-c', `${script}; echo box > /proc/sys/kernel/hostname && hostname`]);
    expect(r.stdout).toBe(present.map((p) => `${p} 0\n`).join(''));
    expect(r.stderr).toMatch(/Read-only file system/);
    const p = berth([
      'run',
      '--rm',
      '--privileged',
      image,
      'mp3',
      'sh',
      '-c',
      'head -c 1 /proc/timer_list | wc -c; echo box > /proc/sys/kernel/hostname && hostname',
    ]);
    expect(p).toEqual({ code: 0, stdout: '1\nbox\n', stderr: '' });
  });

  it('refuses uids and gids outside 0..2^31-1, from the command line or the image, leaving nothing', async () => {
    const refused = (args: string[], message: RegExp) => {
      const r = berth(['run', '--rm', ...args]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    };
    refused(['--user', '4294967295', image, 'u1', 'id'], /^berth: invalid uid "4294967295": uids are 0 to 2147483647(: invalid argument)?\n$/);
    refused(['--user', '2147483648', image, 'u2', 'id'], /invalid uid "2147483648"/);
    refused(['--user=-1', image, 'u3', 'id'], /invalid uid "-1"/);
    refused(['--user', '1:99999999999999999999', image, 'u4', 'id'], /invalid gid "99999999999999999999"/);
    const fromConfig = buildRunImage({ name: 'docker.io/library/busybox:huge-user', config: { User: '4294967294' } });
    refused([await loadRunImage(b, { image: fromConfig }), 'u5', 'id'], /invalid uid "4294967294"/);
    const fromPasswd = buildRunImage({
      name: 'docker.io/library/busybox:huge-passwd',
      config: { User: 'huge' },
      passwd: 'root:x:0:0::/root:/bin/sh\nhuge:x:2147483648:0::/:/bin/sh\n',
    });
    refused([await loadRunImage(b, { image: fromPasswd }), 'u6', 'id'], /\/etc\/passwd gives user "huge" an invalid uid "2147483648"/);
    expect(containers()).toBe('');
    expect(snapshots()).not.toMatch(/^u\d\s/m);
    // the largest id is fine
    expect(berth(['run', '--rm', '--user', '2147483647:2147483647', image, 'u7', 'id', '-u'])).toEqual({ code: 0, stdout: '2147483647\n', stderr: '' });
  });

  it('an image cannot set host-side labels: log-uri and gc.ref labels are dropped with a warning', async () => {
    const secret = join(scratch, 'host-secret');
    writeFileSync(secret, 'host secret\n');
    const pinned = `sha256:${'ab'.repeat(32)}`;
    const labelled = buildRunImage({
      name: 'docker.io/library/busybox:labels',
      config: {
        Labels: {
          'io.berth.log-uri': `file://${secret}`,
          'containerd.io/gc.ref.content.x': pinned,
          'io.kubernetes.pod.name': 'p',
          // an image asking berthd to publish a host port for it
          'io.berth/network': '{"mode":"bridge","networks":["bridge"],"ports":[{"hostPort":2222,"containerPort":22,"protocol":"tcp"}]}',
          team: 'web',
        },
        StopSignal: 'SIGNOPE',
      },
    });
    const name = await loadRunImage(b, { image: labelled });
    const warnings = [
      `berth: warning: not copying the image's label "containerd.io/gc.ref.content.x" to the container: the prefix is reserved for the host`,
      `berth: warning: not copying the image's label "io.berth.log-uri" to the container: the prefix is reserved for the host`,
      `berth: warning: not copying the image's label "io.berth/network" to the container: the prefix is reserved for the host`,
      `berth: warning: not copying the image's label "io.kubernetes.pod.name" to the container: the prefix is reserved for the host`,
      `berth: warning: the image's StopSignal "SIGNOPE" is not a signal; the container stops with SIGTERM`,
    ];
    const r = berth(['containers', 'create', name, 'lb1', 'true']);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter(Boolean).sort()).toEqual(warnings);
    // berthd's server-side run says the same
    const run = berth(['run', '-d', '--null-io', name, 'lb2', 'true']);
    expect(run.code).toBe(0);
    expect(run.stderr.split('\n').filter(Boolean).sort()).toEqual(warnings);
    // (berth run adds its own network label, io.berth/network: the default network)
    expect(JSON.parse(berth(['containers', 'info', 'lb2']).stdout).Labels).toEqual({
      'io.containerd.image.config.stop-signal': 'SIGTERM',
      team: 'web',
      'io.berth/network': '{"mode":"bridge","networks":["bridge"],"ports":[]}',
    });
    expect(berth(['tasks', 'rm', 'lb2']).code).toBe(0);
    expect(berth(['containers', 'rm', 'lb2']).code).toBe(0);
    const info = JSON.parse(berth(['containers', 'info', 'lb1']).stdout) as { Labels: Record<string, string> };
    expect(info.Labels).toEqual({ 'io.containerd.image.config.stop-signal': 'SIGTERM', team: 'web' });
    const logs = berth(['logs', 'lb1']);
    expect(logs.stdout).toBe('');
    expect(logs.stdout + logs.stderr).not.toContain('host secret');
    expect(logs.code).toBe(1);
    // the container's own --log-uri still works
    const own = join(scratch, 'own.log');
    expect(berth(['run', '--log-uri', `file://${own}`, name, 'lb2', 'echo', 'mine']).code).toBe(0);
    expect(berth(['logs', 'lb2']).stdout).toBe('mine\n');
    // ctr copies an image's labels verbatim: berth logs still does not follow the image's URI
    expect(b.ctr(['containers', 'create', name, 'lb3', 'true']).code).toBe(0);
    expect(JSON.parse(berth(['containers', 'info', 'lb3']).stdout).Labels).toMatchObject({ 'io.berth.log-uri': `file://${secret}` });
    const viaCtr = berth(['logs', 'lb3']);
    expect(viaCtr.stdout + viaCtr.stderr).not.toContain('host secret');
    expect(viaCtr.code).toBe(1);
    expect(berth(['containers', 'rm', 'lb1', 'lb2', 'lb3']).code).toBe(0);
  });
});
