/**
 * Exact resume. Beside a run's checkpoint (parameters only, so PyTorch's load_state_dict takes it
 * as it is) a second safetensors file keeps everything else a training step reads: the
 * optimizer's moments and step count, the PRNG's four words (dropout masks), the data stream
 * position, the hidden state carried across chunks by truncated BPTT, and the counters. Restoring
 * both makes the next step compute exactly what it would have computed without the interruption.
 *
 * Not restored: the power-iteration warm-start vectors of the sigma_1 estimate (diagnostics only;
 * after a resume it starts cold, so sigma_1 may differ in the last digits) and the chars/s window.
 */
import { EngineError } from './errors';
import type { Optimizer, OptimizerState } from './optim';
import type { ParamStore } from './params';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors';
import type { Trainer } from './trainer';

export const RESUME_FORMAT = 'rnn-lab-resume/1';
export const RESUME_FILE = 'resume.safetensors';

/** FNV-1a (32 bit) of the UTF-16 code units plus the length: tells whether the data file changed. */
export function dataFingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${text.length}:${h.toString(16).padStart(8, '0')}`;
}

/** The optimizer's moments as tensors optimizer.m.<name>, optimizer.v.<name> (those it keeps). */
export function optimizerTensors(p: ParamStore, opt: OptimizerState): NamedTensor[] {
  const tensors: NamedTensor[] = [];
  for (const [key, buf] of [['m', opt.m], ['v', opt.v]] as const) {
    if (buf.length === 0) continue;
    for (const t of p.tensors) tensors.push({ name: `optimizer.${key}.${t.name}`, shape: t.shape, data: buf.subarray(t.offset, t.offset + t.size) });
  }
  return tensors;
}

/** Restores optimizerTensors()' moments and the step count into `optimizer`; `fail` names what does not match. */
export function restoreOptimizer(optimizer: Optimizer, p: ParamStore, tensors: Map<string, { data: Float64Array | Float32Array }>, kind: string | undefined, steps: number, fail: (what: string) => never): void {
  const opt: OptimizerState = { kind: optimizer.opts.kind, t: steps, m: new Float64Array(optimizer.m.length), v: new Float64Array(optimizer.v.length) };
  if (kind !== opt.kind) fail(`the optimizer state is for ${kind}, the run uses ${opt.kind}`);
  for (const [key, buf] of [['m', opt.m], ['v', opt.v]] as const) {
    if (buf.length === 0) continue;
    for (const t of p.tensors) {
      const src = tensors.get(`optimizer.${key}.${t.name}`);
      if (!src || src.data.length !== t.size) fail(`optimizer tensor optimizer.${key}.${t.name} is missing or not of shape [${t.shape}]`);
      buf.set(src!.data, t.offset);
    }
  }
  optimizer.importState(opt);
}

export function resumeStateBytes(trainer: Trainer, fingerprint: string): Uint8Array {
  const p = trainer.net.params;
  const opt = trainer.optimizer.exportState();
  const tensors = optimizerTensors(p, opt);
  const B = trainer.state.batch;
  const H = trainer.net.spec.hidden;
  trainer.state.h.forEach((h, l) => tensors.push({ name: `state.h.l${l}`, shape: [B, H], data: h }));
  trainer.state.c.forEach((c, l) => {
    if (c.length > 0) tensors.push({ name: `state.c.l${l}`, shape: [B, H], data: c });
  });
  const metadata: Record<string, string> = {
    format: RESUME_FORMAT,
    step: String(trainer.step),
    clipCount: String(trainer.clipCount),
    seen: String(trainer.seen),
    rng: JSON.stringify(trainer.rng.getState()),
    position: String(trainer.batcher.position),
    optimizer: opt.kind,
    optimizerSteps: String(opt.t),
    data: fingerprint,
  };
  return encodeSafetensors(tensors, metadata);
}

/**
 * Puts a fresh Trainer (built from the checkpoint's config and the same data) into the state
 * saved at the checkpoint: parameters from `checkpoint`, the rest from `state`. Throws an
 * EngineError naming what does not match; the trainer is then unusable and should be dropped.
 */
export function restoreTrainer(trainer: Trainer, checkpointBytes: Uint8Array, stateBytes: Uint8Array, fingerprint: string, where: string): void {
  const fail: (what: string) => never = (what) => {
    throw new EngineError('bad-checkpoint', `cannot resume ${where}: ${what}`, 'Resume needs the checkpoint and resume.safetensors written together by the same run, and the same data file.');
  };
  const checkpoint = decodeSafetensors(checkpointBytes, `${where}/checkpoint.safetensors`);
  const checkpointTensors = checkpoint.tensors;
  const { tensors, metadata } = decodeSafetensors(stateBytes, `${where}/${RESUME_FILE}`);
  if (metadata.format !== RESUME_FORMAT) fail(`${RESUME_FILE} has format ${JSON.stringify(metadata.format)}, expected ${RESUME_FORMAT}`);
  if (metadata.step !== checkpoint.metadata.step) fail(`${RESUME_FILE} is of step ${metadata.step}, the checkpoint of step ${checkpoint.metadata.step}`);
  if (metadata.data !== fingerprint) fail(`the data file changed since the run was saved (fingerprint ${metadata.data}, now ${fingerprint})`);
  const p = trainer.net.params;
  for (const t of p.tensors) {
    const src = checkpointTensors.get(t.name);
    if (!src || src.shape.join() !== t.shape.join()) fail(`checkpoint tensor ${t.name} is missing or not of shape [${t.shape}]`);
    p.view(t.name).set(src!.data);
  }
  const int = (key: string): number => {
    const n = Number(metadata[key]);
    if (metadata[key] === undefined || !Number.isSafeInteger(n) || n < 0) fail(`${RESUME_FILE} metadata "${key}" is ${JSON.stringify(metadata[key])}, not a whole number`);
    return n;
  };
  restoreOptimizer(trainer.optimizer, p, tensors, metadata.optimizer, int('optimizerSteps'), fail);
  const restoreState = (name: string, dst: Float64Array) => {
    const src = tensors.get(name);
    if (!src || src.data.length !== dst.length) fail(`${name} is missing or not of shape [${trainer.state.batch}, ${trainer.net.spec.hidden}]`);
    dst.set(src!.data);
  };
  trainer.state.h.forEach((h, l) => restoreState(`state.h.l${l}`, h));
  trainer.state.c.forEach((c, l) => c.length > 0 && restoreState(`state.c.l${l}`, c));
  let rng: unknown;
  try {
    rng = JSON.parse(metadata.rng ?? '');
  } catch {
    fail(`${RESUME_FILE} metadata "rng" is not JSON`);
  }
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)) fail(`${RESUME_FILE} metadata "rng" is not four uint32 words`);
  trainer.rng.setState(rng as number[]);
  const position = int('position');
  if (position > trainer.batcher.segment) fail(`data position ${position} is past the end of a stream (${trainer.batcher.segment})`);
  trainer.batcher.position = position;
  trainer.step = int('step');
  trainer.clipCount = int('clipCount');
  trainer.seen = int('seen');
}
