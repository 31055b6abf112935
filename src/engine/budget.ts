/**
 * What a model costs in memory, known from its spec before anything is allocated, so a config
 * that cannot fit (hidden 4096 x 8 layers, or a vocabulary of 100,000 symbols x hidden 4096) is
 * refused with the size it would need instead of failing inside an allocation.
 */
import type { RunConfig } from '../protocol/config';
import { EngineError } from './errors';
import { GATE_NAMES, type ModelSpec } from './network';

/** The most a training run may hold in float64 buffers: params, gradients, optimizer state, activations. */
export const MAX_MODEL_BYTES = 8 * 1024 ** 3;

/** Number of parameters of a spec (the tensors Network declares). */
export function paramCount(spec: ModelSpec): number {
  const G = GATE_NAMES[spec.cell].length;
  const H = spec.hidden;
  const i = spec.input;
  const I0 = i.kind === 'onehot' ? i.vocab : i.kind === 'embedding' ? i.dim : i.size;
  const out = spec.head.kind === 'softmax' ? spec.head.classes : spec.head.kind === 'linear' ? spec.head.outputs : 0;
  let n = i.kind === 'embedding' ? i.vocab * i.dim : 0;
  for (let l = 0; l < spec.layers; l++) n += G * H * ((l === 0 ? I0 : H) + H + 2);
  return n + out * (H + 1);
}

/**
 * Bytes a Trainer holds: five parameter-sized buffers (values, gradients, the last good values,
 * two optimizer moments) and, per step of T x B positions, each layer's input, gates and states
 * plus the shared backward scratch and the head's outputs.
 */
export function trainingBytes(spec: ModelSpec, T: number, B: number): number {
  const G = GATE_NAMES[spec.cell].length;
  const H = spec.hidden;
  const i = spec.input;
  const I0 = i.kind === 'onehot' ? i.vocab : i.kind === 'embedding' ? i.dim : i.size;
  const out = spec.head.kind === 'softmax' ? spec.head.classes : spec.head.kind === 'linear' ? spec.head.outputs : 0;
  const perPosition = spec.layers * (Math.max(I0, H) + G * H + 5 * H) + G * H + 2 * Math.max(I0, H) + out;
  return 8 * (5 * paramCount(spec) + T * B * perPosition);
}

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** Refuses a model whose training buffers would not fit in MAX_MODEL_BYTES, saying what it would need. */
export function checkModelFits(config: RunConfig, spec: ModelSpec, where: string): void {
  const bytes = trainingBytes(spec, config.seqLength, config.batch);
  if (bytes > MAX_MODEL_BYTES) {
    const inputs = spec.input.kind === 'dense' ? `${spec.input.size} input columns` : `a vocabulary of ${spec.input.vocab.toLocaleString('en-US')}`;
    throw new EngineError(
      'too-large',
      `${where}: a ${spec.cell} of ${spec.layers} x ${spec.hidden} with ${inputs} (seq ${config.seqLength}, batch ${config.batch}) would need ${gib(bytes)} of memory to train (${paramCount(spec).toLocaleString('en-US')} parameters), over the ${gib(MAX_MODEL_BYTES)} limit`,
      'Lower hidden, layers, seqLength or batch (or use an embedding for a large vocabulary).',
    );
  }
}
