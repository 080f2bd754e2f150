import { describe, expect, it } from 'vitest';
import { isReservedLabel } from './image-labels.ts';
import { networkLabel } from './names.ts';
import { decodeNetworkRequest, encodeNetworkRequest, formatPort, networkRequestOf, parseExtraHost, parsePublish } from './network.ts';

describe('parsePublish', () => {
  it('reads HOSTPORT:CONTAINERPORT with tcp by default, and an IP and a protocol', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:5353:53/udp')).toEqual({ hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' });
    expect(parsePublish('0.0.0.0:1:65535/TCP')).toEqual({ hostPort: 1, containerPort: 65535, protocol: 'tcp' });
  });

  it.each([
    ['80', 'expected a host port and a container port'],
    ['0:80', 'host port 0 is out of range'],
    ['8080:65536', 'container port 65536 is out of range'],
    ['8080:80/sctp', 'protocol "sctp" is not tcp or udp'],
    ['a:80', 'host port "a" is not a number'],
    ['::1:8080:80', 'expected a host port and a container port'],
    ['10.0.0:8080:80', 'host IP "10.0.0" is not an IPv4 address'],
    ['1:2:3:4', 'expected a host port'],
    ['8080-8081:80', 'is not a number'],
  ])('rejects %s', (value, message) => {
    expect(() => parsePublish(value)).toThrow(message);
  });

  it('formats as docker ps does', () => {
    expect(formatPort(parsePublish('8080:80'))).toBe('0.0.0.0:8080->80/tcp');
    expect(formatPort(parsePublish('127.0.0.1:53:53/udp'))).toBe('127.0.0.1:53->53/udp');
  });
});

describe('the network label', () => {
  const full = {
    mode: 'bridge' as const,
    networks: ['bridge', 'backend'],
    ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }],
    ip: '10.77.0.9',
    dns: ['1.1.1.1'],
    dnsSearch: ['example.com'],
    dnsOptions: ['ndots:2'],
    extraHosts: ['db:10.0.0.5', 'v6:fe80::1'],
  };

  it('round-trips', () => {
    expect(decodeNetworkRequest(encodeNetworkRequest(full))).toEqual(full);
    expect(networkRequestOf({ 'io.berth/network': '{"mode":"none","networks":[],"ports":[]}' })).toEqual({ mode: 'none', networks: [], ports: [] });
    expect(networkRequestOf({ other: 'x' })).toBeUndefined();
  });

  it.each([
    ['not json', 'is not JSON'],
    ['[]', 'must be a JSON object'],
    ['{"mode":"overlay","networks":[]}', 'mode must be'],
    ['{"mode":"bridge","networks":[]}', 'needs at least one network'],
    ['{"mode":"host","networks":["x"]}', 'cannot be combined with mode host'],
    ['{"mode":"none","networks":[],"ports":[{"hostPort":1,"containerPort":1,"protocol":"tcp"}]}', 'only be published on a bridge network'],
    ['{"mode":"bridge","networks":["a","a"]}', 'named twice'],
    ['{"mode":"bridge","networks":["a"],"extra":1}', 'unknown field "extra"'],
    ['{"mode":"bridge","networks":["a"],"ports":[{"hostPort":0,"containerPort":1,"protocol":"tcp"}]}', 'invalid host port 0'],
    ['{"mode":"bridge","networks":["a"],"ports":[{"hostPort":1,"containerPort":1,"protocol":"icmp"}]}', 'invalid protocol'],
    ['{"mode":"bridge","networks":["a"],"ip":"10.0.0.300"}', 'invalid address'],
    ['{"mode":"bridge","networks":["a"],"dns":["dns.example"]}', 'invalid DNS server'],
    ['{"mode":"bridge","networks":[1]}', 'networks must be a list of strings'],
    ['{"mode":"bridge","networks":["a"],"extraHosts":["nocolon"]}', 'invalid extra host'],
  ])('rejects %s', (text, message) => {
    expect(() => decodeNetworkRequest(text)).toThrow(message);
  });

  it("is reserved for the host: an image's label of that name is not copied to its containers", () => {
    expect(isReservedLabel(networkLabel)).toBe(true);
  });

  it('reads --add-host values', () => {
    expect(parseExtraHost('db:10.0.0.5')).toEqual({ name: 'db', ip: '10.0.0.5' });
    expect(parseExtraHost('v6:::1')).toEqual({ name: 'v6', ip: '::1' });
    expect(() => parseExtraHost(':10.0.0.5')).toThrow('use name:ip');
  });
});
