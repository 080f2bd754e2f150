import { type AnyMessage, packAny } from '../any.ts';
import { signalNumber } from '../signals.ts';
import { containerLabelsFromImage } from './image-labels.ts';
import { defaultRuntime, runcOptionsType, specTypeUrl, stopSignalLabel } from './names.ts';
import { goJson } from './spec.ts';
import type { ImageConfig, Spec } from './types.ts';

/**
 * The container record `ctr run` makes from an image and a spec (containerd's NewContainer with
 * WithImage, WithImageConfigLabels, WithImageStopSignal, WithRuntime, WithSpec, WithSnapshot):
 * the CLI sends it in Containers.Create, berthd's server-side run stores it. One copy for both.
 */

/** containerd.runc.v1.Options with only binary_name. */
export function runcOptions(binaryName?: string): AnyMessage {
  return packAny(runcOptionsType, binaryName ? { binary_name: binaryName } : {});
}

/**
 * The image's StopSignal, if `berth tasks kill` can send it: an image cannot leave its
 * container impossible to stop with an unknown name (SIGTERM then, with a warning).
 */
export function stopSignal(fromImage: string | undefined, warn: (message: string) => void): string {
  if (!fromImage) return 'SIGTERM';
  try {
    signalNumber(fromImage);
    return fromImage;
  } catch {
    warn(`the image's StopSignal ${JSON.stringify(fromImage.slice(0, 64))} is not a signal; the container stops with SIGTERM`);
    return 'SIGTERM';
  }
}

export interface ContainerRecordInput {
  id: string;
  image: { name: string; labels?: Record<string, string> | null; config: ImageConfig };
  spec: Spec;
  runtime: string;
  runcBinary?: string;
  snapshotter: string;
  /** --label values, then berth's own (they win over the image's) */
  labels: Record<string, string>;
  /** told of each image label left out, and of an unusable StopSignal */
  warn: (message: string) => void;
}

/** The record as Containers.Create takes it (snapshot key: the container id). */
export function containerRecord(o: ContainerRecordInput) {
  if (o.runcBinary && o.runtime !== defaultRuntime) throw new Error(`--runc-binary is only supported for the "${defaultRuntime}" runtime`);
  const labels = containerLabelsFromImage([o.image.config.Labels, o.image.labels], o.warn);
  Object.assign(labels, o.labels);
  labels[stopSignalLabel] = stopSignal(o.image.config.StopSignal, o.warn);
  return {
    id: o.id,
    labels,
    image: o.image.name,
    runtime: { name: o.runtime, ...(o.runtime === defaultRuntime ? { options: runcOptions(o.runcBinary) } : {}) },
    spec: { type_url: specTypeUrl, value: Buffer.from(goJson(o.spec)) },
    snapshotter: o.snapshotter,
    snapshot_key: o.id,
    extensions: {},
  };
}
