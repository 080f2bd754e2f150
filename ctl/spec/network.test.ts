import { describe, expect, it } from 'vitest';
import { networkChoice, publishedPorts } from './network.ts';

describe("berth run's network flags", () => {
  it('defaults to the default bridge network, which containerd could not give', () => {
    const c = networkChoice({});
    expect(c.request).toEqual({ mode: 'bridge', networks: ['bridge'], ports: [] });
    expect(JSON.parse(c.label)).toEqual(c.request);
    expect(c.needsBerthd).toBeUndefined();
  });

  it('--net host (or --net-host) and --net none need nothing of berthd', () => {
    expect(networkChoice({ net: ['host'] }).request).toEqual({ mode: 'host', networks: [], ports: [] });
    expect(networkChoice({ netHost: true }).request.mode).toBe('host');
    expect(networkChoice({ net: ['none'], dns: [] }).needsBerthd).toBeUndefined();
  });

  it('several networks in order, ports, an address and DNS settings; what needs berthd is named', () => {
    const c = networkChoice({
      net: ['bridge', 'back', 'bridge'],
      publish: ['8080:80', '127.0.0.1:53:53/udp'],
      ip: '10.77.0.5',
      dns: ['1.1.1.1'],
      dnsSearch: ['a.example'],
      dnsOption: ['ndots:1'],
      addHost: ['db:10.0.0.2'],
    });
    expect(c.request).toEqual({
      mode: 'bridge',
      networks: ['bridge', 'back'],
      ports: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      ],
      ip: '10.77.0.5',
      dns: ['1.1.1.1'],
      dnsSearch: ['a.example'],
      dnsOptions: ['ndots:1'],
      extraHosts: ['db:10.0.0.2'],
    });
    expect(c.needsBerthd).toBe('--net bridge,back,bridge, -p, --ip, --dns, --add-host');
    expect(publishedPorts({ 'io.berth/network': c.label })).toEqual(['0.0.0.0:8080->80/tcp', '127.0.0.1:53->53/udp']);
    expect(publishedPorts({})).toBeUndefined();
  });

  it.each([
    [{ net: ['host', 'bridge'] }, '--net host cannot be combined with other networks'],
    [{ net: ['none'], netHost: true }, '--net none cannot be combined with other networks'],
    [{ net: [''] }, '--net needs a network name'],
    [{ net: ['none'], publish: ['80:80'] }, '-p publishes a port on a bridge network; it cannot be used with --net none'],
    [{ net: ['host'], ip: '10.0.0.1' }, '--ip needs a bridge network'],
    [{ publish: ['80'] }, 'invalid -p "80"'],
    [{ ip: '10.0.0' }, 'invalid address "10.0.0"'],
    [{ addHost: ['nohost'] }, 'invalid extra host "nohost"'],
    [{ dns: ['resolver.example'] }, 'invalid DNS server'],
  ])('refuses %j', (flags, message) => {
    expect(() => networkChoice(flags)).toThrow(message);
  });
});
