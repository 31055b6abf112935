/**
 * Seq2seq checkpoints and exact resume. The checkpoint is a safetensors file whose tensors carry
 * the oracle-s2s README's names (src_embedding.weight, encoder.weight_ih_l0, attention.weight,
 * ..., the state_dict of its PyTorch module) and whose metadata holds the run config and both
 * vocabularies. The resume file beside it (resume.ts's format /2, as the language models') holds the
 * parameters with the checkpoint's metadata, the optimizer's moments, the PRNG, the training
 * stream's position and the counters: restoring it makes the next step compute what it would have
 * computed without the interruption, and the checkpoint is derived from it byte for byte
 * (checkpointFromState), so a seq2seq run's generations commit and repair as the LM's do.
 */
import { isSeq2SeqTask, type RunConfig } from '../protocol/config';
import { validateConfig } from './config';
import { EngineError } from './errors';
import { Seq2Seq } from './models/seq2seq';
import { modelTensors, optimizerTensors, restoreOptimizer, RESUME_FILE, RESUME_FORMAT } from './resume';
import { decodeSafetensors, encodeSafetensors } from './safetensors';
import { seq2seqSpecFor, type Seq2SeqTrainer } from './seq2seqTrainer';
import { Vocab } from './seq2seq/vocab';

export const SEQ2SEQ_CHECKPOINT_FORMAT = 'rnn-lab-seq2seq/1';

export interface LoadedSeq2Seq {
  model: Seq2Seq;
  config: RunConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  step: number;
}

/** Whether a checkpoint's metadata says seq2seq (so a reader can pick the loader). */
export function isSeq2SeqCheckpoint(bytes: Uint8Array, where: string): boolean {
  return decodeSafetensors(bytes, where).metadata.format === SEQ2SEQ_CHECKPOINT_FORMAT;
}

/** The checkpoint's __metadata__, in the order the checkpoint holds it (resume.ts derives the checkpoint from it). */
export function seq2seqCheckpointMetadata(config: RunConfig, srcVocab: Vocab, tgtVocab: Vocab, step: number): Record<string, string> {
  return {
    format: SEQ2SEQ_CHECKPOINT_FORMAT,
    config: JSON.stringify(config),
    srcVocab: JSON.stringify(srcVocab.toJSON()),
    tgtVocab: JSON.stringify(tgtVocab.toJSON()),
    step: String(step),
  };
}

export function encodeSeq2SeqCheckpoint(model: Seq2Seq, config: RunConfig, srcVocab: Vocab, tgtVocab: Vocab, step: number): Uint8Array {
  const p = model.params;
  const tensors = p.tensors.map((t) => ({ name: t.name, shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) }));
  return encodeSafetensors(tensors, seq2seqCheckpointMetadata(config, srcVocab, tgtVocab, step));
}

export function loadSeq2SeqCheckpoint(bytes: Uint8Array, where: string): LoadedSeq2Seq {
  const { tensors, metadata } = decodeSafetensors(bytes, where);
  const bad = (what: string): never => {
    throw new EngineError('bad-checkpoint', `${where}: ${what}`, 'Pick a seq2seq checkpoint written by RNN Lab.');
  };
  if (metadata.format !== SEQ2SEQ_CHECKPOINT_FORMAT) bad(`metadata format is ${JSON.stringify(metadata.format)}, not ${SEQ2SEQ_CHECKPOINT_FORMAT}`);
  let raw: { config: unknown; src: unknown; tgt: unknown };
  try {
    raw = { config: JSON.parse(metadata.config ?? 'null'), src: JSON.parse(metadata.srcVocab ?? 'null'), tgt: JSON.parse(metadata.tgtVocab ?? 'null') };
  } catch (e) {
    return bad(`metadata is not valid JSON (${(e as Error).message})`);
  }
  const config = validateConfig(raw.config, `${where} metadata`).config;
  if (!isSeq2SeqTask(config.task)) bad(`the run config's task is ${config.task}, not a seq2seq task`);
  const srcVocab = Vocab.fromJSON(raw.src);
  const tgtVocab = Vocab.fromJSON(raw.tgt);
  const model = new Seq2Seq(seq2seqSpecFor(config, srcVocab.size, tgtVocab.size));
  for (const t of model.params.tensors) {
    const src = tensors.get(t.name);
    if (!src || src.shape.join() !== t.shape.join()) bad(`tensor ${t.name} is missing or not of shape [${t.shape}]`);
    model.params.view(t.name).set(src!.data);
  }
  const step = Number(metadata.step ?? 0);
  return { model, config, srcVocab, tgtVocab, step: Number.isSafeInteger(step) && step >= 0 ? step : 0 };
}

export function seq2seqResumeBytes(trainer: Seq2SeqTrainer, fingerprint: string): Uint8Array {
  const p = trainer.model.params;
  const opt = trainer.optimizer.exportState();
  const { format, step, ...checkpointMetadata } = seq2seqCheckpointMetadata(trainer.config, trainer.data.srcVocab, trainer.data.tgtVocab, trainer.step);
  return encodeSafetensors([...modelTensors(p), ...optimizerTensors(p, opt)], {
    format: RESUME_FORMAT,
    checkpointFormat: format,
    step,
    clipCount: String(trainer.clipCount),
    seen: String(trainer.seen),
    rng: JSON.stringify(trainer.rng.getState()),
    stream: JSON.stringify(trainer.data.getState()),
    optimizer: opt.kind,
    optimizerSteps: String(opt.t),
    data: fingerprint,
    ...checkpointMetadata,
  });
}

/**
 * Puts a fresh trainer (same config and data) into the state saved in `stateBytes` (a seq2seq
 * resume file, parameters included); `checkpointBytes`, when given, must be of the same step.
 */
export function restoreSeq2SeqTrainer(trainer: Seq2SeqTrainer, checkpointBytes: Uint8Array | undefined, stateBytes: Uint8Array, fingerprint: string, where: string): void {
  const fail = (what: string): never => {
    throw new EngineError('bad-checkpoint', `cannot resume ${where}: ${what}`, 'Resume needs the checkpoint and resume.safetensors written together by the same run, and the same data.');
  };
  const { tensors, metadata } = decodeSafetensors(stateBytes, `${where}/${RESUME_FILE}`);
  if (metadata.format !== RESUME_FORMAT || metadata.checkpointFormat !== SEQ2SEQ_CHECKPOINT_FORMAT) {
    fail(`${RESUME_FILE} has format ${JSON.stringify(metadata.format)} for checkpoints ${JSON.stringify(metadata.checkpointFormat)}, expected ${RESUME_FORMAT} for ${SEQ2SEQ_CHECKPOINT_FORMAT}`);
  }
  if (checkpointBytes) {
    const ck = decodeSafetensors(checkpointBytes, `${where}/checkpoint.safetensors`);
    if (metadata.step !== ck.metadata.step) fail(`${RESUME_FILE} is of step ${metadata.step}, the checkpoint of step ${ck.metadata.step}`);
  }
  if (metadata.data !== fingerprint) fail('the data file changed since the run was saved');
  const p = trainer.model.params;
  for (const t of p.tensors) {
    const src = tensors.get(`model.${t.name}`);
    if (!src || src.shape.join() !== t.shape.join()) fail(`tensor model.${t.name} is missing or not of shape [${t.shape}]`);
    p.view(t.name).set(src!.data);
  }
  const int = (key: string): number => {
    const n = Number(metadata[key]);
    if (metadata[key] === undefined || !Number.isSafeInteger(n) || n < 0) fail(`metadata "${key}" is ${JSON.stringify(metadata[key])}, not a whole number`);
    return n;
  };
  restoreOptimizer(trainer.optimizer, p, tensors, metadata.optimizer, int('optimizerSteps'), fail);
  const words = (key: string): number[] => {
    let v: unknown;
    try {
      v = JSON.parse(metadata[key] ?? '');
    } catch {
      return fail(`metadata "${key}" is not JSON`);
    }
    if (!Array.isArray(v) || !v.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)) fail(`metadata "${key}" is not a list of uint32 words`);
    return v as number[];
  };
  const rng = words('rng');
  if (rng.length !== 4) fail('metadata "rng" is not four uint32 words');
  trainer.rng.setState(rng);
  trainer.data.setState(words('stream'));
  trainer.step = int('step');
  trainer.clipCount = int('clipCount');
  trainer.seen = int('seen');
}
