import { describe, expect, it } from 'vitest';
import { podSysctls, sysctlFile, sysctlNamespace } from './sysctls.ts';

describe('pod sysctls', () => {
  it('places each in its namespace, as runc does', () => {
    expect(sysctlNamespace('kernel.shm_rmid_forced')).toBe('ipc');
    expect(sysctlNamespace('fs.mqueue.msg_max')).toBe('ipc');
    expect(sysctlNamespace('net.ipv4.ip_forward')).toBe('net');
    expect(sysctlNamespace('net/ipv4/conf/eth0.100/forwarding')).toBe('net');
    expect(sysctlNamespace('kernel.domainname')).toBe('uts');
    expect(sysctlNamespace('kernel.pid_max')).toBeUndefined();
    expect(sysctlNamespace('vm.overcommit_memory')).toBeUndefined();
  });

  it('turns names into files under /proc/sys; dots in a slashed name stay', () => {
    expect(sysctlFile('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward');
    expect(sysctlFile('net/ipv4/conf/eth0.100/forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.100/forwarding');
    for (const bad of ['net/../../etc/passwd', 'net..ipv4', 'net.ipv4.', 'net.ipv4.a b', 'net/ipv4//x']) {
      expect(() => sysctlFile(bad), bad).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
  });

  it('refuses what would change the host: a sysctl of no namespace, or of one the pod shares with the host', () => {
    const own = new Set(['net', 'ipc', 'uts'] as const);
    expect(podSysctls({ 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '80' }, new Set(own))).toEqual([
      { name: 'kernel.shm_rmid_forced', file: '/proc/sys/kernel/shm_rmid_forced', value: '1', namespace: 'ipc' },
      {
        name: 'net.ipv4.ip_unprivileged_port_start',
        file: '/proc/sys/net/ipv4/ip_unprivileged_port_start',
        value: '80',
        namespace: 'net',
      },
    ]);
    expect(() => podSysctls({ 'kernel.pid_max': '100' }, new Set(own))).toThrow(/not in a separate kernel namespace/);
    expect(() => podSysctls({ 'net.ipv4.ip_forward': '1' }, new Set(['ipc', 'uts'] as const))).toThrow(/shares the host's net namespace/);
    expect(() => podSysctls({ 'kernel.msgmax': '1' }, new Set(['net', 'uts'] as const))).toThrow(/shares the host's ipc namespace/);
    expect(() => podSysctls({ 'net.ipv4.ip_forward': '1\nx' }, new Set(own))).toThrow(/one line/);
  });
});
