// Wire-compatibility check: every message, enum and service that containerd 1.6 declares in
// its API protos must exist in berth's protos with the same full name, field names, numbers,
// types, labels and map key types, and the same RPC signatures. containerd's protos come from
// Debian's golang-github-containerd-containerd-dev package (CI installs it).

import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

const OURS = join(import.meta.dirname, '..', 'api', 'proto');
const GOCODE = '/usr/share/gocode/src';
const CONTAINERD = join(GOCODE, 'github.com/containerd/containerd');
const GOGO = join(GOCODE, 'github.com/gogo/protobuf');
const GOOGLEAPIS = join(GOCODE, 'github.com/gogo/googleapis');

// containerd's file (under GOCODE) -> ours (under proto/).
const PAIRS: Array<[string, string]> = [
  ['github.com/containerd/containerd/api/types/descriptor.proto', 'containerd/types/descriptor.proto'],
  ['github.com/containerd/containerd/api/types/mount.proto', 'containerd/types/mount.proto'],
  ['github.com/containerd/containerd/api/types/platform.proto', 'containerd/types/platform.proto'],
  ['github.com/containerd/containerd/api/types/metrics.proto', 'containerd/types/metrics.proto'],
  ['github.com/containerd/containerd/api/types/task/task.proto', 'containerd/types/task/task.proto'],
  ['github.com/containerd/containerd/api/services/content/v1/content.proto', 'containerd/services/content/v1/content.proto'],
  ['github.com/containerd/containerd/api/services/snapshots/v1/snapshots.proto', 'containerd/services/snapshots/v1/snapshots.proto'],
  ['github.com/containerd/containerd/api/services/diff/v1/diff.proto', 'containerd/services/diff/v1/diff.proto'],
  ['github.com/containerd/containerd/api/services/images/v1/images.proto', 'containerd/services/images/v1/images.proto'],
  ['github.com/containerd/containerd/api/services/containers/v1/containers.proto', 'containerd/services/containers/v1/containers.proto'],
  ['github.com/containerd/containerd/api/services/tasks/v1/tasks.proto', 'containerd/services/tasks/v1/tasks.proto'],
  ['github.com/containerd/containerd/api/services/events/v1/events.proto', 'containerd/services/events/v1/events.proto'],
  ['github.com/containerd/containerd/api/services/ttrpc/events/v1/events.proto', 'containerd/services/events/ttrpc/v1/events.proto'],
  ['github.com/containerd/containerd/api/services/namespaces/v1/namespace.proto', 'containerd/services/namespaces/v1/namespace.proto'],
  ['github.com/containerd/containerd/api/services/leases/v1/leases.proto', 'containerd/services/leases/v1/leases.proto'],
  ['github.com/containerd/containerd/api/services/introspection/v1/introspection.proto', 'containerd/services/introspection/v1/introspection.proto'],
  ['github.com/containerd/containerd/api/services/version/v1/version.proto', 'containerd/services/version/v1/version.proto'],
  ['github.com/containerd/containerd/api/events/container.proto', 'containerd/events/container.proto'],
  ['github.com/containerd/containerd/api/events/content.proto', 'containerd/events/content.proto'],
  ['github.com/containerd/containerd/api/events/image.proto', 'containerd/events/image.proto'],
  ['github.com/containerd/containerd/api/events/namespace.proto', 'containerd/events/namespace.proto'],
  ['github.com/containerd/containerd/api/events/snapshot.proto', 'containerd/events/snapshot.proto'],
  ['github.com/containerd/containerd/api/events/task.proto', 'containerd/events/task.proto'],
  ['github.com/containerd/containerd/runtime/v2/task/shim.proto', 'containerd/runtime/task/v2/shim.proto'],
  ['github.com/containerd/containerd/runtime/v2/runc/options/oci.proto', 'containerd/runc/options/oci.proto'],
  ['github.com/containerd/cgroups/stats/v1/metrics.proto', 'containerd/cgroups/v1/metrics.proto'],
  ['github.com/containerd/cgroups/v2/stats/metrics.proto', 'containerd/cgroups/v2/metrics.proto'],
  ['github.com/gogo/googleapis/google/rpc/status.proto', 'google/rpc/status.proto'],
];

// What berth declares beyond containerd 1.6.20, on purpose (later containerd releases define
// these with the same numbers and types). Anything else extra in our files fails the test.
const LATER_ADDITIONS = new Set([
  '.containerd.types.Platform.os_version', // 2.0
  '.containerd.services.containers.v1.Container.sandbox', // 1.7
  '.containerd.services.introspection.v1.ServerResponse.pid', // 1.6.25 / 1.7
  '.containerd.services.introspection.v1.ServerResponse.pidns', // 1.6.25 / 1.7
  '.containerd.services.introspection.v1.ServerResponse.deprecations', // 1.6.25 / 1.7
  '.containerd.services.introspection.v1.DeprecationWarning', // 1.6.25 / 1.7
  '.containerd.services.introspection.v1.Introspection.PluginInfo', // 1.7.19 / 2.0
  '.containerd.services.introspection.v1.PluginInfoRequest', // 1.7.19 / 2.0
  '.containerd.services.introspection.v1.PluginInfoResponse', // 1.7.19 / 2.0
  '.containerd.events.SnapshotPrepare.snapshotter', // 1.7
  '.containerd.events.SnapshotCommit.snapshotter', // 1.7
  '.containerd.events.SnapshotRemove.snapshotter', // 1.7
]);

// golang-github-containerd-containerd-dev depends on the cgroups, gogo-protobuf and
// gogo-googleapis -dev packages, so installing it brings every tree read here.
function requireReferenceProtos(): void {
  const needed = [CONTAINERD, join(GOCODE, 'github.com/containerd/cgroups'), join(GOGO, 'gogoproto/gogo.proto'), GOOGLEAPIS];
  const missing = needed.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `containerd's reference protos are missing (${missing.join(', ')}): install the Debian package ` +
        `golang-github-containerd-containerd-dev (apt-get install golang-github-containerd-containerd-dev); CI installs it`,
    );
  }
}

// Maps containerd's import spellings onto the Debian gocode tree.
function resolveContainerd(origin: string, target: string): string {
  if (isAbsolute(target)) return target;
  if (target.startsWith('github.com/')) return join(GOCODE, target);
  if (target.startsWith('gogoproto/')) return join(GOGO, target);
  if (target.startsWith('google/rpc/')) return join(GOOGLEAPIS, target);
  // Only the well-known types protobufjs does not bundle (descriptor.proto, for gogo.proto).
  if (target.startsWith('google/protobuf/')) return join(GOGO, 'protobuf', target);
  return protobuf.util.path.resolve(origin, target);
}

// Our imports are relative to proto/; well-known google.protobuf types are bundled in protobufjs.
function resolveOurs(_origin: string, target: string): string {
  return isAbsolute(target) ? target : join(OURS, target);
}

function load(file: string, resolvePath: (origin: string, target: string) => string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = resolvePath;
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}

type Declared = protobuf.Type | protobuf.Enum | protobuf.Service;

// Every message, enum and service (nested ones included) declared in the given file.
function declaredIn(ns: protobuf.NamespaceBase, file: string, out: Declared[] = []): Declared[] {
  for (const obj of ns.nestedArray) {
    const isDecl = obj instanceof protobuf.Type || obj instanceof protobuf.Enum || obj instanceof protobuf.Service;
    if (isDecl && obj.filename === file) out.push(obj);
    if (obj instanceof protobuf.Namespace) declaredIn(obj, file, out);
  }
  return out;
}

function kind(obj: Declared): string {
  if (obj instanceof protobuf.Type) return 'message';
  if (obj instanceof protobuf.Enum) return 'enum';
  return 'service';
}

// The wire-relevant description of a field.
function describeField(f: protobuf.Field): Record<string, unknown> {
  const map = f instanceof protobuf.MapField;
  return {
    name: f.name,
    id: f.id,
    type: f.resolvedType ? f.resolvedType.fullName : f.type,
    repeated: f.repeated,
    map,
    keyType: map ? (f as protobuf.MapField).keyType : undefined,
    oneof: f.partOf ? f.partOf.name : undefined,
  };
}

function describeMethod(m: protobuf.Method): Record<string, unknown> {
  return {
    name: m.name,
    request: m.resolvedRequestType?.fullName,
    response: m.resolvedResponseType?.fullName,
    requestStream: !!m.requestStream,
    responseStream: !!m.responseStream,
  };
}

// Appends a human-readable line to `problems` for every difference.
function compare(theirs: Declared, ourRoot: protobuf.Root, problems: string[]): void {
  const name = theirs.fullName;
  const ours = ourRoot.lookup(name);
  if (!ours || kind(ours as Declared) !== kind(theirs) || ours.fullName !== name) {
    problems.push(`${kind(theirs)} ${name}: missing in berth's protos`);
    return;
  }
  if (theirs instanceof protobuf.Type) {
    const o = ours as protobuf.Type;
    for (const f of theirs.fieldsArray) {
      const mine = o.fields[f.name];
      if (!mine) {
        problems.push(`${name}.${f.name}: field missing`);
        continue;
      }
      const want = describeField(f);
      const got = describeField(mine);
      for (const key of Object.keys(want)) {
        if (want[key] !== got[key]) {
          problems.push(`${name}.${f.name}: ${key} is ${String(got[key])}, containerd has ${String(want[key])}`);
        }
      }
    }
    for (const f of o.fieldsArray) {
      if (theirs.fields[f.name] || LATER_ADDITIONS.has(f.fullName)) continue;
      problems.push(`${name}.${f.name} (= ${f.id}): extra field not in containerd 1.6 and not listed in LATER_ADDITIONS`);
    }
    for (const f of o.fieldsArray) {
      const clash = theirs.fieldsArray.find((t) => t.id === f.id && t.name !== f.name);
      if (clash) problems.push(`${name}.${f.name}: number ${f.id} is containerd's ${clash.name}`);
    }
  } else if (theirs instanceof protobuf.Enum) {
    const o = ours as protobuf.Enum;
    expectSameRecord(`${name} values`, o.values, theirs.values, problems);
  } else {
    const o = ours as protobuf.Service;
    for (const m of theirs.methodsArray) {
      const mine = o.methods[m.name];
      if (!mine) {
        problems.push(`${name}/${m.name}: method missing`);
        continue;
      }
      const want = describeMethod(m);
      const got = describeMethod(mine);
      for (const key of Object.keys(want)) {
        if (want[key] !== got[key]) {
          problems.push(`${name}/${m.name}: ${key} is ${String(got[key])}, containerd has ${String(want[key])}`);
        }
      }
    }
    for (const m of o.methodsArray) {
      if (!theirs.methods[m.name] && !LATER_ADDITIONS.has(m.fullName)) problems.push(`${name}/${m.name}: extra method not in containerd 1.6`);
    }
  }
}

function expectSameRecord(what: string, got: Record<string, number>, want: Record<string, number>, problems: string[]): void {
  const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
  for (const k of keys) {
    if (got[k] !== want[k]) problems.push(`${what}: ${k} is ${got[k]}, containerd has ${want[k]}`);
  }
}

describe('proto wire compatibility with containerd 1.6', () => {
  it('has the containerd reference protos installed', () => {
    requireReferenceProtos();
    for (const [theirs] of PAIRS) expect(existsSync(join(GOCODE, theirs)), theirs).toBe(true);
  });

  for (const [theirFile, ourFile] of PAIRS) {
    it(`${ourFile} matches ${theirFile.replace(/^github\.com\//, '')}`, () => {
      requireReferenceProtos();
      const theirPath = join(GOCODE, theirFile);
      const ourPath = join(OURS, ourFile);
      const theirRoot = load(theirPath, resolveContainerd);
      const ourRoot = load(ourPath, resolveOurs);

      const theirDecls = declaredIn(theirRoot, theirPath);
      expect(theirDecls.length, `nothing declared in ${theirPath}?`).toBeGreaterThan(0);

      const problems: string[] = [];
      for (const decl of theirDecls) compare(decl, ourRoot, problems);

      // Whatever our file declares must come from containerd's file (or be a known later addition).
      const theirNames = new Set(theirDecls.map((d) => d.fullName));
      for (const decl of declaredIn(ourRoot, ourPath)) {
        if (!theirNames.has(decl.fullName) && !LATER_ADDITIONS.has(decl.fullName)) {
          problems.push(`${kind(decl)} ${decl.fullName}: declared by berth but not by containerd's ${theirFile}`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
