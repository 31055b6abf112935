/**
 * Exact resume. Beside a run's checkpoint (parameters only, so PyTorch's load_state_dict takes it
 * as it is) a second safetensors file keeps everything a training step reads: the parameters
 * (`model.<name>`, with the checkpoint's metadata), the optimizer's moments and step count, the
 * PRNG's four words (dropout masks), the data stream position, the hidden state carried across
 * chunks by truncated BPTT, and the counters. Restoring it makes the next step compute exactly
 * what it would have computed without the interruption.
 *
 * The resume file is self-sufficient (format /2): it alone is a checkpoint generation, and
 * checkpoint.safetensors is derived from it byte for byte (checkpointFromState). So renaming the
 * resume file into place is the one commit point of a generation (runFolder/generation.ts), and a
 * checkpoint left a generation behind by a kill is rebuilt from it. Format /1 files (older runs)
 * hold no parameters and resume only beside a checkpoint of the same step.
 *
 * Not restored: the power-iteration warm-start vectors of the sigma_1 estimate (diagnostics only;
 * after a resume it starts cold, so sigma_1 may differ in the last digits) and the chars/s window.
 */
import { CHECKPOINT_FORMAT } from './checkpoint';
import { EngineError } from './errors';
import type { OptimizerState } from './optim';
import { decodeSafetensors, encodeSafetensors, type DecodedSafetensors, type NamedTensor } from './safetensors';
import type { Trainer } from './trainer';

export const RESUME_FORMAT = 'rnn-lab-resume/2';
/** Resume files of older runs: no parameters, only beside a checkpoint of the same step. */
export const RESUME_FORMAT_V1 = 'rnn-lab-resume/1';
export const RESUME_FILE = 'resume.safetensors';
const MODEL_PREFIX = 'model.';
/** The checkpoint's own metadata keys, in encodeCheckpoint's order (the derived bytes must be equal). */
const CHECKPOINT_KEYS = ['config', 'step', 'rng', 'vocab', 'series'] as const;

/** FNV-1a (32 bit) of the UTF-16 code units plus the length: tells whether the data file changed. */
export function dataFingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${text.length}:${h.toString(16).padStart(8, '0')}`;
}

/**
 * The resume state of `trainer`; `checkpointMetadata` is the __metadata__ of its checkpoint of the
 * same step (encodeCheckpoint's), kept so that the checkpoint can be derived from this file alone.
 */
export function resumeStateBytes(trainer: Trainer, fingerprint: string, checkpointMetadata: Record<string, string>): Uint8Array {
  const p = trainer.net.params;
  const opt = trainer.optimizer.exportState();
  const tensors: NamedTensor[] = p.tensors.map((t) => ({ name: MODEL_PREFIX + t.name, shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) }));
  for (const [key, buf] of [['m', opt.m], ['v', opt.v]] as const) {
    if (buf.length === 0) continue;
    for (const t of p.tensors) tensors.push({ name: `optimizer.${key}.${t.name}`, shape: t.shape, data: buf.subarray(t.offset, t.offset + t.size) });
  }
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
  for (const key of CHECKPOINT_KEYS) {
    if (key !== 'step' && key !== 'rng' && checkpointMetadata[key] !== undefined) metadata[key] = checkpointMetadata[key];
  }
  return encodeSafetensors(tensors, metadata);
}

/** A resume file's step and whether it holds the parameters (format /2), from its bytes. */
export function resumeStateInfo(decoded: DecodedSafetensors, where: string): { step: number; selfSufficient: boolean } {
  const { metadata } = decoded;
  if (metadata.format !== RESUME_FORMAT && metadata.format !== RESUME_FORMAT_V1) {
    throw new EngineError('bad-checkpoint', `${where} has format ${JSON.stringify(metadata.format)}, expected ${RESUME_FORMAT}`, 'Pick a run written by RNN Lab.');
  }
  const step = Number(metadata.step);
  if (metadata.step === undefined || !Number.isSafeInteger(step) || step < 0) throw new EngineError('bad-checkpoint', `${where} metadata "step" is ${JSON.stringify(metadata.step)}, not a whole number`, 'Pick a run written by RNN Lab.');
  return { step, selfSufficient: metadata.format === RESUME_FORMAT };
}

/**
 * checkpoint.safetensors of the same generation as a format /2 resume file: its `model.*` tensors
 * under their state_dict names, and the checkpoint's metadata, in encodeCheckpoint's order, so the
 * bytes equal what the run wrote (or would have written) beside it.
 */
export function checkpointFromState(decoded: DecodedSafetensors, where: string): Uint8Array {
  const { tensors, metadata } = decoded;
  if (metadata.format !== RESUME_FORMAT) throw new EngineError('bad-checkpoint', `${where} holds no parameters (format ${JSON.stringify(metadata.format)})`, 'Resume it beside its checkpoint.safetensors.');
  const model: NamedTensor[] = [];
  for (const [name, t] of tensors) if (name.startsWith(MODEL_PREFIX)) model.push({ name: name.slice(MODEL_PREFIX.length), shape: t.shape, data: t.data });
  if (model.length === 0 || metadata.config === undefined) throw new EngineError('bad-checkpoint', `${where} has no model tensors or no config`, 'Pick a run written by RNN Lab.');
  const meta: Record<string, string> = { format: CHECKPOINT_FORMAT };
  for (const key of CHECKPOINT_KEYS) if (metadata[key] !== undefined) meta[key] = metadata[key];
  return encodeSafetensors(model, meta);
}

/**
 * Puts a fresh Trainer (built from the checkpoint's config and the same data) into the state
 * saved at the checkpoint: everything from `state`, and the parameters too when it holds them
 * (format /2; `checkpointBytes` is then not read), else from `checkpointBytes`, which must be of
 * the same step. Throws an EngineError naming what does not match; the trainer is then unusable
 * and should be dropped.
 */
export function restoreTrainer(trainer: Trainer, checkpointBytes: Uint8Array | undefined, stateBytes: Uint8Array, fingerprint: string, where: string): void {
  const fail: (what: string) => never = (what) => {
    throw new EngineError('bad-checkpoint', `cannot resume ${where}: ${what}`, 'Resume needs the checkpoint and resume.safetensors written together by the same run, and the same data file.');
  };
  const { tensors, metadata } = decodeSafetensors(stateBytes, `${where}/${RESUME_FILE}`);
  if (metadata.format !== RESUME_FORMAT && metadata.format !== RESUME_FORMAT_V1) fail(`${RESUME_FILE} has format ${JSON.stringify(metadata.format)}, expected ${RESUME_FORMAT}`);
  let modelTensors: DecodedSafetensors['tensors'];
  let prefix = MODEL_PREFIX;
  if (metadata.format === RESUME_FORMAT) modelTensors = tensors;
  else {
    if (!checkpointBytes) fail(`${RESUME_FILE} of an older format holds no parameters and there is no checkpoint.safetensors`);
    const checkpoint = decodeSafetensors(checkpointBytes!, `${where}/checkpoint.safetensors`);
    if (metadata.step !== checkpoint.metadata.step) fail(`${RESUME_FILE} is of step ${metadata.step}, the checkpoint of step ${checkpoint.metadata.step}`);
    modelTensors = checkpoint.tensors;
    prefix = '';
  }
  if (metadata.data !== fingerprint) fail(`the data file changed since the run was saved (fingerprint ${metadata.data}, now ${fingerprint})`);
  const p = trainer.net.params;
  for (const t of p.tensors) {
    const src = modelTensors.get(prefix + t.name);
    if (!src || src.shape.join() !== t.shape.join()) fail(`checkpoint tensor ${t.name} is missing or not of shape [${t.shape}]`);
    p.view(t.name).set(src!.data);
  }
  const int = (key: string): number => {
    const n = Number(metadata[key]);
    if (metadata[key] === undefined || !Number.isSafeInteger(n) || n < 0) fail(`${RESUME_FILE} metadata "${key}" is ${JSON.stringify(metadata[key])}, not a whole number`);
    return n;
  };
  const opt: OptimizerState = { kind: trainer.optimizer.opts.kind, t: int('optimizerSteps'), m: new Float64Array(trainer.optimizer.m.length), v: new Float64Array(trainer.optimizer.v.length) };
  if (metadata.optimizer !== opt.kind) fail(`the optimizer state is for ${metadata.optimizer}, the run uses ${opt.kind}`);
  for (const [key, buf] of [['m', opt.m], ['v', opt.v]] as const) {
    if (buf.length === 0) continue;
    for (const t of p.tensors) {
      const src = tensors.get(`optimizer.${key}.${t.name}`);
      if (!src || src.data.length !== t.size) fail(`optimizer tensor optimizer.${key}.${t.name} is missing or not of shape [${t.shape}]`);
      buf.set(src!.data, t.offset);
    }
  }
  trainer.optimizer.importState(opt);
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
