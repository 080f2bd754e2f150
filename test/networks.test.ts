import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { type Berthd, startBerthd } from './support/harness.ts';
import { rulesFor } from './support/network.ts';
import { describeAsRoot, installed, itAsRoot } from './support/root.ts';

describeAsRoot('networks: the default network of a test berthd', [installed('iptables')], () => {
  let b: Berthd;
  beforeAll(async () => {
    b = await startBerthd();
  }, 30_000);
  afterAll(async () => {
    await b?.cleanup();
  });

  itAsRoot('has its own bridge name and subnet, written to its conflist, and is isolated; all of it goes with the daemon', async () => {
    expect(b.network.bridge).toMatch(/^bt\d{8}$/);
    const list = JSON.parse(readFileSync(join(b.root, 'net.d', 'bridge.conflist'), 'utf8'));
    expect(list.plugins[0]).toMatchObject({ type: 'bridge', bridge: b.network.bridge, ipam: { ranges: [[{ subnet: b.network.subnet }]] } });
    expect(rulesFor(b.network.bridge)).toEqual([
      `-A BERTH-ISOLATION-1 -i ${b.network.bridge} ! -o ${b.network.bridge} -j BERTH-ISOLATION-2`,
      `-A BERTH-ISOLATION-2 -o ${b.network.bridge} -j DROP`,
    ]);
    await b.cleanup();
    expect(rulesFor(b.network.bridge)).toEqual([]);
    expect(existsSync(b.dir)).toBe(false);
  });
});

describeAsRoot('networks: settings', () => {
  itAsRoot('a config file given to startBerthd gets the network table appended; a wrong setting stops berthd with a clear message', async () => {
    const b = await startBerthd();
    try {
      const config = join(b.dir, 'extra.toml');
      writeFileSync(config, 'version = 2\n[plugins."io.containerd.grpc.v1.pull"]\n  max_concurrent_unpacks = 2');
      const other = await startBerthd(['--config', config]);
      try {
        expect(readFileSync(config, 'utf8')).toContain(`default_bridge = "${other.network.bridge}"`);
        expect(JSON.parse(readFileSync(join(other.root, 'net.d', 'bridge.conflist'), 'utf8')).plugins[0].bridge).toBe(other.network.bridge);
      } finally {
        await other.cleanup();
      }
      writeFileSync(config, 'version = 2\n[plugins."io.berth.network.v1.cni"]\ndefault_subnet = "10.1.2.3/33"\n');
      await expect(startBerthd(['--config', config])).rejects.toThrow(
        /required plugin io.berth.network.v1.cni failed to load: config: plugins."io.berth.network.v1.cni".default_subnet = "10.1.2.3\/33": 10.1.2.3\/33 is not an IPv4 CIDR/,
      );
    } finally {
      await b.cleanup();
    }
  });
});
