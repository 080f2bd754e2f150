import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BerthClient } from '../transport/client.ts';
import { bridgePorts } from './support/attach.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { removeTestBridges, uniqueTestNetwork } from './support/network.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage, storeRunImage } from './support/run-image.ts';

/**
 * `ctr run --cni` keeps containerd's semantics against berthd: ctr itself runs the CNI plugins
 * (from /opt/cni/bin or /usr/lib/cni) on the task's /proc/PID/ns/net with the first conflist of
 * /etc/cni/net.d, and removes the network after the exit. berthd only has to give the task's pid
 * before it starts. The test writes its own conflist there (only when the host has none), and
 * every other test berthd reads no system conflists, so nothing else sees it.
 */
const confDir = '/etc/cni/net.d';
const hostHasConflists = existsSync(confDir) && readdirSync(confDir).length > 0;

describeAsRoot(
  'ctr run --cni',
  [installed('ctr'), installed('containerd'), { ok: !hostHasConflists, reason: `${confDir} holds the host's own conflists` }],
  () => {
    let b: Berthd;
    let ctd: Containerd;
    let dataDir: string;
    /** the dirs this test made (removed after it, innermost first) */
    const made: string[] = [];
    const net = uniqueTestNetwork();
    const conflist = join(confDir, '00-berth-ctr-cni-test.conflist');
    const image = buildRunImage();
    const ns = 'ctr-cni';

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'berth-ctr-cni-'));
      made.push(...['/etc/cni', confDir].filter((d) => !existsSync(d)).reverse());
      mkdirSync(confDir, { recursive: true });
      writeFileSync(
        conflist,
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'berth-ctr-cni-test',
          plugins: [{ type: 'bridge', bridge: net.bridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], dataDir } }],
        }),
      );
      b = await startBerthd();
      ctd = await startContainerd();
      for (const address of [b.address, ctd.address]) {
        const c = new BerthClient({ address, namespace: ns });
        try {
          await storeRunImage(c, image);
        } finally {
          c.close();
        }
      }
    }, 60_000);
    afterAll(async () => {
      rmSync(conflist, { force: true });
      for (const d of made) rmdirSync(d);
      await b?.cleanup();
      await ctd?.cleanup();
      await removeTestBridges([net.bridge]);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it.each(['berthd', 'containerd'])('against %s: the container gets an address on the conflist’s bridge, and ctr removes it after the exit', (daemon) => {
      const d = daemon === 'berthd' ? b : ctd;
      const prefix = net.subnet.split('.').slice(0, 3).join('.');
      const r = d.ctr(['-n', ns, 'run', '--rm', '--cni', image.name, `cni-${daemon}`, 'sh', '-c', 'ip -4 -o addr show eth0']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`inet ${prefix.replaceAll('.', '\\.')}\\.\\d+/24 `));
      // ctr's network.Remove ran: no port left on the bridge, no address held
      expect(bridgePorts(net.bridge)).toEqual([]);
      expect(readdirSync(join(dataDir, 'berth-ctr-cni-test')).filter((f) => /^\d/.test(f))).toEqual([]);
    });
  },
);
