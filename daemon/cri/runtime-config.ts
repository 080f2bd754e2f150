// UpdateRuntimeConfig (docs/cri.md): the node's pod CIDR, written into a CNI config from
// `cni.conf_template` as containerd 1.6 does, when no config is there yet.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import type { RuntimeServiceHandlers } from '../../api/gen/runtime/v1/RuntimeService.ts';
import { invalidArgument, unimplemented } from '../../core/errors.ts';
import { unary } from '../grpc.ts';
import type { Logger } from '../log.ts';

/** the file containerd writes from the template */
export const templateConfName = '10-containerd-net.conflist';

export interface TemplateValues {
  PodCIDR: string;
  PodCIDRRanges: string[];
  Routes: string[];
}

/** The values a template gets from kubelet's pod_cidr ("a,b"): the first, all, and a default route per IP family. */
export function templateValues(podCidr: string): TemplateValues {
  const cidrs = podCidr.split(',').map((c) => c.trim());
  let v4 = false;
  let v6 = false;
  for (const c of cidrs) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(c);
    if (!m) throw invalidArgument(`pod_cidr: ${JSON.stringify(c)} is not a CIDR`);
    if (isIPv4(m[1]!) && Number(m[2]) <= 32) v4 = true;
    else if (m[1]!.includes(':') && Number(m[2]) <= 128) v6 = true;
    else throw invalidArgument(`pod_cidr: ${JSON.stringify(c)} is not a CIDR`);
  }
  const routes = [...(v4 ? ['0.0.0.0/0'] : []), ...(v6 ? ['::/0'] : [])];
  return { PodCIDR: cidrs[0]!, PodCIDRRanges: cidrs, Routes: routes };
}

// ---------------------------------------------------------------- templates
// The part of Go's text/template that CNI config templates use: {{.Field}}, {{$var}}, {{.}},
// {{range [$i, ]$v := .List}} / {{range .List}}, {{if X}}…{{else}}…{{end}}, and the trim
// markers {{- and -}}. Anything else is refused.

type Value = string | string[] | number | TemplateValues | undefined;
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'value'; expr: string }
  | { kind: 'range'; index?: string; item?: string; expr: string; body: Node[] }
  | { kind: 'if'; expr: string; yes: Node[]; no: Node[] };

function lex(template: string): Array<{ text: string } | { action: string }> {
  const out: Array<{ text: string } | { action: string }> = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      out.push({ text: rest });
      break;
    }
    let text = rest.slice(0, open);
    const close = rest.indexOf('}}', open);
    if (close < 0) throw invalidArgument('cni.conf_template: an action is not closed');
    let action = rest.slice(open + 2, close);
    if (action.startsWith('- ')) {
      text = text.trimEnd();
      action = action.slice(2);
    }
    let after = rest.slice(close + 2);
    if (action.endsWith(' -')) {
      action = action.slice(0, -2);
      after = after.trimStart();
    }
    out.push({ text }, { action: action.trim() });
    rest = after;
  }
  return out;
}

function parse(template: string): Node[] {
  const tokens = lex(template);
  let i = 0;
  const block = (ends: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if ('text' in t) {
        if (t.text) nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const a = t.action;
      if (ends.includes(a)) return { nodes, end: a };
      let m: RegExpExecArray | null;
      if ((m = /^range\s+(?:(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*)?(\S+)$/.exec(a))) {
        const body = block(['end']);
        if (body.end !== 'end') throw invalidArgument('cni.conf_template: range without end');
        nodes.push({ kind: 'range', index: m[2] ? m[1] : undefined, item: m[2] ?? m[1], expr: m[3]!, body: body.nodes });
      } else if ((m = /^if\s+(\S+)$/.exec(a))) {
        const then = block(['else', 'end']);
        const otherwise = then.end === 'else' ? block(['end']) : { nodes: [], end: 'end' };
        if (otherwise.end !== 'end') throw invalidArgument('cni.conf_template: if without end');
        nodes.push({ kind: 'if', expr: m[1]!, yes: then.nodes, no: otherwise.nodes });
      } else if (/^(\.\w*|\$\w+)$/.test(a)) nodes.push({ kind: 'value', expr: a });
      else throw invalidArgument(`cni.conf_template: {{${a}}} is not supported`);
    }
    if (ends.length > 0) throw invalidArgument(`cni.conf_template: missing {{${ends.join('}} or {{')}}}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

/** Renders a CNI config template with the pod CIDR values (the subset of Go's text/template above). */
export function renderTemplate(template: string, values: TemplateValues): string {
  const evaluate = (expr: string, dot: Value, vars: Map<string, Value>): Value => {
    if (expr === '.') return dot;
    if (expr.startsWith('$')) {
      if (!vars.has(expr)) throw invalidArgument(`cni.conf_template: undefined variable ${expr}`);
      return vars.get(expr);
    }
    const field = expr.slice(1) as keyof TemplateValues;
    if (!(field in values)) throw invalidArgument(`cni.conf_template: no field ${expr}`);
    return values[field];
  };
  const truthy = (v: Value) => (Array.isArray(v) ? v.length > 0 : typeof v === 'number' ? v !== 0 : Boolean(v));
  const render = (nodes: Node[], dot: Value, vars: Map<string, Value>): string =>
    nodes
      .map((n) => {
        switch (n.kind) {
          case 'text':
            return n.text;
          case 'value': {
            const v = evaluate(n.expr, dot, vars);
            if (typeof v === 'object' && !Array.isArray(v)) throw invalidArgument(`cni.conf_template: {{${n.expr}}} is not a value`);
            return Array.isArray(v) ? `[${v.join(' ')}]` : String(v ?? '');
          }
          case 'if':
            return render(truthy(evaluate(n.expr, dot, vars)) ? n.yes : n.no, dot, vars);
          case 'range': {
            const list = evaluate(n.expr, dot, vars);
            if (!Array.isArray(list)) throw invalidArgument(`cni.conf_template: range over ${n.expr}, which is not a list`);
            return list
              .map((item, index) => {
                const inner = new Map(vars);
                if (n.index) inner.set(n.index, index);
                if (n.item) inner.set(n.item, item);
                return render(n.body, item, inner);
              })
              .join('');
          }
        }
        return '';
      })
      .join('');
  return render(parse(template), values, new Map());
}

export interface RuntimeConfigDeps {
  /** cni.conf_template: '' when unset */
  template: string;
  confDir: string;
  /** the config files in confDir that would be loaded */
  confFiles: () => Promise<string[]>;
  log: Logger;
}

/**
 * UpdateRuntimeConfig: with a pod CIDR and a template, and no CNI config in conf_dir yet,
 * writes conf_dir/10-containerd-net.conflist from the template (atomically). Otherwise nothing.
 */
export async function updateRuntimeConfig(d: RuntimeConfigDeps, podCidr: string): Promise<void> {
  if (podCidr === '') return;
  const values = templateValues(podCidr);
  if (d.template === '') {
    d.log.info('UpdateRuntimeConfig: no cni.conf_template; the CNI config is left to other components', { podCidr });
    return;
  }
  if ((await d.confFiles()).length > 0) {
    d.log.info('UpdateRuntimeConfig: a CNI config is there; none is written from the template', { template: d.template });
    return;
  }
  const text = renderTemplate(await fs.readFile(d.template, 'utf8'), values);
  await fs.mkdir(d.confDir, { recursive: true, mode: 0o755 });
  const target = join(d.confDir, templateConfName);
  const temp = join(d.confDir, `.${templateConfName}.${randomBytes(6).toString('hex')}`);
  try {
    await fs.writeFile(temp, text, { mode: 0o644 });
    await fs.rename(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
  }
  d.log.info('UpdateRuntimeConfig: wrote a CNI config from the template', { file: target, podCidr });
}

/** Why the RPCs containerd 1.6 and 1.7 do not answer are UNIMPLEMENTED here too. */
export const unanswered = {
  CheckpointContainer:
    'CheckpointContainer is not implemented by berth: checkpointing needs CRIU, which berth does not drive (containerd 1.6 and 1.7 do not implement it either)',
  ListMetricDescriptors:
    'ListMetricDescriptors is not implemented by berth, as by containerd 1.6 and 1.7: the kubelet then takes pod metrics from ListPodSandboxStats',
  ListPodSandboxMetrics:
    'ListPodSandboxMetrics is not implemented by berth, as by containerd 1.6 and 1.7: the kubelet then takes pod metrics from ListPodSandboxStats',
} as const;

export function runtimeConfigHandlers(
  d: RuntimeConfigDeps,
): Pick<RuntimeServiceHandlers, 'UpdateRuntimeConfig' | 'CheckpointContainer' | 'ListMetricDescriptors' | 'ListPodSandboxMetrics'> {
  const refuse = (message: string) =>
    unary(async () => {
      throw unimplemented(message);
    });
  return {
    UpdateRuntimeConfig: unary(async (req) => {
      await updateRuntimeConfig(d, req.runtime_config?.network_config?.pod_cidr ?? '');
      return {};
    }),
    CheckpointContainer: refuse(unanswered.CheckpointContainer),
    ListMetricDescriptors: refuse(unanswered.ListMetricDescriptors),
    ListPodSandboxMetrics: refuse(unanswered.ListPodSandboxMetrics),
  };
}
