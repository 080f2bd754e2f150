import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNetDev } from './cgroup-stats.ts';
import { renderTemplate, templateConfName, templateValues, updateRuntimeConfig } from './runtime-config.ts';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;

// containerd's documented template for its conf_template (docs/cri/config.md), as node setups use it
const template = `{
  "cniVersion": "0.4.0",
  "name": "containerd-net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "ipam": {
        "type": "host-local",
        "ranges": [
          {{- range $i, $range := .PodCIDRRanges}}
          {{- if $i}}, {{end}}
          [{"subnet": "{{$range}}"}]
          {{- end}}
        ],
        "routes": [
          {{- range $i, $route := .Routes}}
          {{- if $i}}, {{end}}
          {"dst": "{{$route}}"}
          {{- end}}
        ]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "note": "{{.PodCIDR}}"}
  ]
}`;

describe('UpdateRuntimeConfig', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('renders a CNI template with the pod CIDRs and a default route per family', () => {
    const out = JSON.parse(renderTemplate(template, templateValues('10.88.0.0/16, fd00:88::/64')));
    expect(out.plugins[0].ipam.ranges).toEqual([[{ subnet: '10.88.0.0/16' }], [{ subnet: 'fd00:88::/64' }]]);
    expect(out.plugins[0].ipam.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    expect(out.plugins[1].note).toBe('10.88.0.0/16');
    expect(renderTemplate('{{if .Routes}}r{{else}}none{{end}} {{range .Routes}}<{{.}}>{{end}}', templateValues('10.1.0.0/24'))).toBe('r <0.0.0.0/0>');
  });

  it('refuses what it cannot render, and a pod_cidr that is not a CIDR', () => {
    expect(() => renderTemplate('{{printf "%s" .PodCIDR}}', templateValues('10.0.0.0/8'))).toThrow(/not supported/);
    expect(() => renderTemplate('{{.Nope}}', templateValues('10.0.0.0/8'))).toThrow(/no field/);
    expect(() => renderTemplate('{{range .Routes}}x', templateValues('10.0.0.0/8'))).toThrow(/missing/);
    expect(() => templateValues('10.0.0.0')).toThrow(/not a CIDR/);
    expect(() => templateValues('10.0.0.0/33')).toThrow(/not a CIDR/);
  });

  it('writes conf_dir/10-containerd-net.conflist from the template when conf_dir has no config, and only then', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cri-template-'));
    const confDir = join(dir, 'net.d');
    const file = join(dir, 'template.json');
    writeFileSync(file, template);
    const confFiles = async () => readdirSync(confDir).filter((f) => f.endsWith('.conflist'));
    const deps = { template: file, confDir, confFiles: async () => [] as string[], log };
    await updateRuntimeConfig({ ...deps, template: '' }, '10.1.0.0/24');
    expect(() => readdirSync(confDir)).toThrow();
    await updateRuntimeConfig(deps, '');
    expect(() => readdirSync(confDir)).toThrow();
    await updateRuntimeConfig(deps, '10.1.0.0/24');
    expect(readdirSync(confDir)).toEqual([templateConfName]);
    const written = JSON.parse(readFileSync(join(confDir, templateConfName), 'utf8'));
    expect(written.plugins[0].ipam.ranges).toEqual([[{ subnet: '10.1.0.0/24' }]]);
    // a config is there now: a new CIDR leaves it alone
    await updateRuntimeConfig({ ...deps, confFiles }, '10.2.0.0/24');
    expect(JSON.parse(readFileSync(join(confDir, templateConfName), 'utf8')).plugins[0].ipam.ranges).toEqual([[{ subnet: '10.1.0.0/24' }]]);
  });
});

describe('/proc/<pid>/net/dev', () => {
  it('gives each interface but lo with its byte and error counters', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0: 5000000      40    3    0    0     0          0         0     7000      30    2    0    0     0       0          0',
      '',
    ].join('\n');
    expect(parseNetDev(text)).toEqual([{ name: 'eth0', rxBytes: 5000000n, rxErrors: 3n, txBytes: 7000n, txErrors: 2n }]);
  });
});
