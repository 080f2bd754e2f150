import { codec } from '../../api/codec.ts';
import type { SpecOptions__Output } from '../../api/gen/berth/services/run/v1/SpecOptions.ts';
import { loadOptions } from '../../api/load-options.ts';
import { allCapabilities } from '../../core/spec/caps.ts';
import { specFlagsOf } from '../../core/spec/options.ts';
import { buildSpec, goJson } from '../../core/spec/spec.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

const image = { Env: ['PATH=/bin'], Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], WorkingDir: '/w' };

/**
 * What berthd's server-side run builds a spec from: a berth.services.run.v1.SpecOptions message
 * off the wire, turned into SpecFlags and a spec. Any input is refused with a plain Error (the
 * daemon sends it as InvalidArgument; a TypeError or RangeError is a bug), or gives a spec runc
 * can take: a command, absolute mount destinations and working directory, known capabilities
 * only, and JSON that reads back as itself.
 */
export const target: FuzzTarget = {
  name: 'run-spec',
  alsoCover: ['protobufjs'],
  maxLength: 2048,
  dictionary: ['CAP_SYS_ADMIN', 'ALL', '/proc', '..', 'bind', 'rbind', 'ro', '{"defaultAction":"SCMP_ACT_ALLOW"}', 'root', '0:0', '4294967295', '-1'],
  fuzz(data) {
    const type = codec('berth.services.run.v1.SpecOptions');
    let options: SpecOptions__Output;
    try {
      options = type.toObject(type.decode(data), loadOptions) as SpecOptions__Output;
    } catch {
      return; // not a message: the gRPC server refuses it before any handler runs
    }
    const spec = refusesOnlyWith(
      () => {
        const flags = specFlagsOf(options);
        return buildSpec({ namespace: 'fuzz', id: 'c1', image, flags, hostHostname: 'h', privileged: { capabilities: ['CAP_CHOWN'], devices: [] } });
      },
      (e) => e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError),
    );
    if (!spec) return;
    const p = spec.process!;
    check(Array.isArray(p.args) && p.args.length > 0, 'the process has a command', p.args);
    check(typeof p.cwd === 'string' && p.cwd.startsWith('/') && !p.cwd.split('/').includes('..'), 'the working directory is absolute and clean', p.cwd);
    for (const m of spec.mounts ?? []) check(m.destination.startsWith('/'), 'mount destinations are absolute', m.destination);
    for (const set of Object.values(p.capabilities ?? {})) {
      for (const cap of set ?? []) check(allCapabilities.includes(cap), 'only known capabilities', cap);
    }
    const json = goJson(spec);
    check(goJson(JSON.parse(json)) === json, 'the spec JSON reads back as itself');
  },
};
