import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.ts';
import { defaultConfigText, defaults, parseConfig } from './config.ts';

describe('config.toml', () => {
  it("reads containerd's layout over the defaults", () => {
    const config = parseConfig(
      'version = 2\nroot = "/r"\n[grpc]\naddress = "/a.sock"\n[debug]\nlevel = "debug"\n[plugins."io.containerd.grpc.v1.pull"]\nconfig_path = "/d"\n',
      'c.toml',
    );
    expect(config).toMatchObject({
      root: '/r',
      state: '/run/berth',
      address: '/a.sock',
      logLevel: 'debug',
      plugins: { 'io.containerd.grpc.v1.pull': { config_path: '/d' } },
    });
  });

  it.each([
    ['[version]\n', 'config: unsupported version that is not a number (berth reads version 2)'],
    ['version = [2]\n', 'config: unsupported version that is not a number (berth reads version 2)'],
    ['plugins = "x"\n', 'config: plugins must be a table'],
    ['plugins = [1]\n', 'config: plugins must be a table'],
    ['grpc = 5\n', 'config: grpc must be a table'],
    ['debug = "x"\n', 'config: debug must be a table'],
  ])('refuses %j as InvalidArgument: %s', (text, message) => {
    let err: unknown;
    try {
      parseConfig(text, 'c.toml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ code: 'InvalidArgument', message });
  });

  it('reads back its own commented default config as the defaults', () => {
    const text = defaultConfigText({ journalMaxBytes: 123, maxConcurrentUnpacks: 3, hostsDir: '/h' });
    const config = parseConfig(text, 'default.toml');
    expect({ ...config, plugins: {} }).toEqual(defaults);
    expect(config.plugins).toEqual({
      'io.containerd.gc.v1.scheduler': { delay_ms: 100 },
      'io.containerd.event.v1.exchange': { journal_max_bytes: 123 },
      'io.containerd.grpc.v1.pull': { config_path: '/h', max_concurrent_unpacks: 3 },
      'io.containerd.runtime.v2.task': { shims: {} },
    });
  });

  it.each([
    ['uid = -1', 'grpc.uid'],
    ['gid = "wheel"', 'grpc.gid'],
    ['gid = 1.5', 'grpc.gid'],
  ])('refuses [grpc] %s', (line, name) => {
    expect(() => parseConfig(`[grpc]\n${line}\n`, 'c.toml')).toThrow(`config: ${name} must be a user or group number`);
  });
});
