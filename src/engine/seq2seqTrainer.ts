/**
 * Training a seq2seq model: batches from a generated task or the user's pairs, teacher forcing
 * (scheduled sampling below ratio 1), clipping and the optimizer over the model's one parameter
 * buffer, the diagnostics for the encoder and the decoder alike, the gradient flow through the
 * encoder, and the held-out evaluation by batched greedy decoding.
 *
 * Initialisation is PyTorch's default for the modules of the oracle-s2s README (so the bench's
 * PyTorch peer starts from the same distribution): cells and the general W_a uniform
 * +-1/sqrt(H), embeddings N(0, 1), linear layers (combine, query, key, v, head) uniform
 * +-1/sqrt(fan_in), the head's bias too.
 */
import type { EnginePath, RunConfig, SaturationEntry, Seq2SeqEvalRecord, SpectrumEntry } from '../protocol/config';
import { gateKind, saturationOf } from './diagnostics/saturation';
import { recurrentBlocks, singularValues } from './diagnostics/spectrum';
import { parseSrcLen } from './config';
import { EngineError } from './errors';
import { l2, largestSingularValue, type Vec } from './linalg';
import { Seq2Seq, type Seq2SeqSpec } from './models/seq2seq';
import { GATE_NAMES } from './ops/cell';
import type { Optimizer } from './optim';
import { clipAndUpdate } from './update';
import { trainingSetup, type StepResult } from './trainer';
import { cellSpecOf } from './modelSpec';
import { Rng } from './random';
import { makeBatch } from './seq2seq/batch';
import { accuracyByLength, alignmentAccuracy, corpusBleu, exactMatch, tokenAccuracy } from './seq2seq/metrics';
import { readPairs, pairFormatOf } from './seq2seq/pairs';
import { generateTask, type TaskKind as GeneratedTask, type TrainingSampler } from './seq2seq/tasks';
import { Vocab } from './seq2seq/vocab';

/** One example as the trainer uses it: ids without BOS / EOS, the texts, and what the metrics need. */
export interface Seq2SeqExample {
  src: number[];
  tgt: number[];
  source: string;
  target: string;
  /** Generated tasks: the known alignment of each target position. */
  alignment?: number[][];
  /** Pairs: the reference's tokens as written (BLEU). */
  tgtTokens?: string[];
}

export interface Seq2SeqData {
  kind: 'task' | 'pairs';
  srcVocab: Vocab;
  tgtVocab: Vocab;
  heldOut: Seq2SeqExample[];
  /** The next n training examples of the seeded stream. */
  next(n: number): Seq2SeqExample[];
  /** The stream's position, for exact resume. */
  getState(): number[];
  setState(state: readonly number[]): void;
  /** Pairs files: the bad lines, reported. */
  badReport?: string;
  trainSize: number;
}

/** The training stream and held-out set of a run: a generated task, or the pairs in `dataText`. */
export function seq2seqData(config: RunConfig, dataText?: string): Seq2SeqData {
  if (config.task === 'seq2seq') {
    if (dataText === undefined) throw new EngineError('bad-config', 'the seq2seq task needs a pairs file', 'Pass a TSV (source<TAB>target per line) or CSV file.');
    const d = readPairs(dataText, config.data || 'pairs', { format: pairFormatOf(config.data || 'pairs.tsv'), tokenization: config.tokenization, seed: config.seed });
    const rng = new Rng(config.seed * 2 + 7);
    return {
      kind: 'pairs',
      srcVocab: d.srcVocab,
      tgtVocab: d.tgtVocab,
      heldOut: d.heldOut,
      next: (n) => Array.from({ length: n }, () => d.train[rng.int(d.train.length)]),
      getState: () => rng.getState(),
      setState: (s) => rng.setState(s),
      badReport: d.badReport,
      trainSize: d.train.length,
    };
  }
  const task = generateTask(config.task as GeneratedTask, { srcLen: parseSrcLen(config.srcLen), alphabet: config.alphabet, seed: config.seed, heldOutSize: config.heldOut, trainSize: 0 });
  const sampler: TrainingSampler = task.sampler();
  return {
    kind: 'task',
    srcVocab: task.srcVocab,
    tgtVocab: task.tgtVocab,
    heldOut: task.heldOut,
    next: (n) => sampler.batch(n),
    getState: () => sampler.getState(),
    setState: (s) => sampler.setState(s),
    trainSize: Infinity,
  };
}

export function seq2seqSpecFor(config: RunConfig, srcVocab: number, tgtVocab: number): Seq2SeqSpec {
  return {
    ...cellSpecOf(config),
    embed: config.embedding > 0 ? config.embedding : config.hidden,
    attention: config.attention,
    attentionSize: config.attentionSize > 0 ? config.attentionSize : config.hidden,
    srcVocab,
    tgtVocab,
  };
}

export function initializeSeq2Seq(model: Seq2Seq, rng: Rng): void {
  const p = model.params;
  const H = model.spec.hidden;
  for (const t of p.tensors) {
    const v = p.view(t.name);
    if (t.name.endsWith('embedding.weight')) {
      for (let i = 0; i < v.length; i++) v[i] = rng.normal();
      continue;
    }
    const cellOrGeneral = t.name.startsWith('encoder.') || t.name.startsWith('decoder.') || t.name === 'attention.weight';
    const fanIn = t.name === 'head.bias' ? H : t.shape[t.shape.length - 1];
    const k = cellOrGeneral ? 1 / Math.sqrt(H) : 1 / Math.sqrt(fanIn);
    for (let i = 0; i < v.length; i++) v[i] = (2 * rng.uniform() - 1) * k;
  }
}

export interface Seq2SeqStepResult extends StepResult {
  /** Target tokens (EOS included) in this step's batch. */
  tokens: number;
}

export class Seq2SeqTrainer {
  readonly model: Seq2Seq;
  readonly rng: Rng;
  readonly optimizer: Optimizer;
  step = 0;
  clipCount = 0;
  seen = 0;
  private readonly lastGood: Vec;
  private readonly vectors = new Map<string, Float64Array>();
  private evalModel: Seq2Seq | null = null;
  /** The engine this run trains on: float32 on the WebAssembly SIMD kernels by default, float64 JavaScript for precision "float64" or without SIMD (trainer.ts enginePathFor). */
  readonly path: EnginePath;

  constructor(
    readonly config: RunConfig,
    readonly data: Seq2SeqData,
  ) {
    this.rng = new Rng(config.seed);
    const setup = trainingSetup(config);
    this.path = setup.path;
    this.model = new Seq2Seq(seq2seqSpecFor(config, data.srcVocab.size, data.tgtVocab.size), undefined, setup.precision);
    initializeSeq2Seq(this.model, this.rng);
    this.optimizer = setup.optimizerFor(this.model.params.size);
    this.lastGood = setup.precision === 'float32' ? new Float32Array(this.model.params.size) : new Float64Array(this.model.params.size);
  }

  get lr(): number {
    const c = this.config;
    return c.lr * Math.pow(c.lrDecay, Math.floor(this.step / c.lrDecayEvery));
  }

  get clipFraction(): number {
    return this.step === 0 ? 0 : this.clipCount / this.step;
  }

  /** One step on the next batch of the stream. Throws EngineError('diverged') as the LM trainer does. */
  trainStep(diagnose = false, fullSpectrum = false): Seq2SeqStepResult {
    const { model, config } = this;
    const batch = makeBatch(this.data.next(config.batch));
    const p = model.params;
    p.zeroGrad();
    const loss = model.forward(batch, { teacherForcing: config.teacherForcing, rng: this.rng });
    model.backward();
    const saturation = diagnose ? this.saturation() : [];
    const encoderFlow = diagnose ? model.encoderFlow() : undefined;
    const nextStep = this.step + 1;
    const lr = this.lr;
    const { clip, paramGradNorms } = clipAndUpdate(p, this.optimizer, config, lr, this.lastGood, loss, nextStep, 'Lower the learning rate or turn on clipping; the parameters of the last good step were kept.');
    this.step = nextStep;
    if (clip.clipped) this.clipCount++;
    const tokens = model.validTargets;
    this.seen += tokens;
    const spectrum = config.diagEvery > 0 ? this.spectrum(diagnose && fullSpectrum) : [];
    const result: Seq2SeqStepResult = { step: this.step, loss, clip, lr, spectrum, paramGradNorms, tokens };
    if (diagnose) result.diagnostics = { type: 'diagnostics', step: this.step, spectrum, saturation, flow: [], paramGradNorms, encoderFlow };
    return result;
  }

  /** sigma_1 of every W_hh gate block of the encoder and the decoder; block names "encoder.f", "decoder.all", ... */
  spectrum(full: boolean): SpectrumEntry[] {
    const { cell, hidden: H, layers } = this.model.spec;
    const p = this.model.params;
    const out: SpectrumEntry[] = [];
    for (const side of ['encoder', 'decoder']) {
      for (let l = 0; l < layers; l++) {
        const base = p.spec(`${side}.weight_hh_l${l}`).offset;
        for (const b of recurrentBlocks(cell, H)) {
          const offset = base + b.row * H;
          const block = `${side}.${b.block}`;
          if (full) {
            const s = singularValues(p.data, offset, b.rows, H);
            out.push({ layer: l, block, sigma1: s[0], singularValues: s, reference: b.reference });
          } else {
            const key = `${l}:${block}`;
            let v = this.vectors.get(key);
            if (!v) this.vectors.set(key, (v = new Float64Array(H)));
            const sigma1 = largestSingularValue(p.data, offset, b.rows, H, v, l2(v) > 0 ? 4 : 100, 1e-9);
            out.push({ layer: l, block, sigma1, reference: b.reference });
          }
        }
      }
    }
    return out;
  }

  /** Gate saturation of the last forward over its real steps: the encoder's (s < n_b of its S x B) and the decoder's (t < m_b of its T x B); padded steps are no samples. */
  saturation(): SaturationEntry[] {
    const m = this.model;
    const { cell, rnnActivation, hidden: H, layers } = m.spec;
    const names = GATE_NAMES[cell];
    const stride = names.length * H;
    const { B, S, T } = m.lastShape;
    const out: SaturationEntry[] = [];
    for (const [side, steps] of [['encoder', S], ['decoder', T]] as const) {
      const real = m.realSteps(side);
      for (let l = 0; l < layers; l++) {
        const acts = (side === 'encoder' ? m.encoderCache(l) : m.decoderCache(l)).gates;
        names.forEach((gate, k) => out.push({ layer: l, gate: `${side}.${gate}`, ...saturationOf(acts, steps * B, stride, k * H, H, gateKind(cell, rnnActivation, gate), real) }));
      }
    }
    return out;
  }

  /** A model sharing this trainer's parameters, for evaluation (its buffers are its own). */
  inferenceModel(): Seq2Seq {
    this.evalModel ??= new Seq2Seq(this.model.spec, this.model.params);
    return this.evalModel;
  }

  /**
   * Greedy decoding of (at most `limit` of) the held-out set in batches, at most n + maxExtra
   * steps for a source of n tokens (EOS included): exact match, token accuracy, by length, BLEU-4
   * (pairs), alignment accuracy (generated tasks), and the attention of the first `pinned`.
   */
  evaluate(limit = Infinity): Seq2SeqEvalRecord {
    const m = this.inferenceModel();
    const held = this.data.heldOut.slice(0, Math.min(limit, this.data.heldOut.length));
    const hyps: number[][] = [];
    const rows: Float64Array[][] = [];
    const chunk = 256;
    const pinned = Math.min(this.config.pinned, held.length);
    const wantRows = m.spec.attention !== 'none';
    for (let i = 0; i < held.length; i += chunk) {
      const part = held.slice(i, i + chunk);
      const batch = makeBatch(part);
      const maxSteps = Math.max(...part.map((e) => Math.max(e.src.length, e.tgt.length) + 2));
      const g = m.greedyDecodeBatch(batch.src, batch.srcLengths, batch.B, batch.S, maxSteps);
      for (let b = 0; b < part.length; b++) {
        hyps.push(g.tokens[b]);
        if (!wantRows) continue;
        // One attention row per emitted token (and the EOS step when it came), over the real source.
        const steps = g.tokens[b].length + (g.finished[b] ? 1 : 0);
        const n = part[b].src.length;
        rows.push(Array.from({ length: steps }, (_, t) => Float64Array.from(m.att.subarray((t * batch.B + b) * batch.S, (t * batch.B + b) * batch.S + n))));
      }
    }
    const refs = held.map((e) => e.tgt);
    const record: Seq2SeqEvalRecord = {
      type: 'seq2seqEval',
      step: this.step,
      examples: held.length,
      exactMatch: held.length ? exactMatch(hyps, refs) : 0,
      tokenAccuracy: held.length ? tokenAccuracy(hyps, refs) : 0,
      byLength: held.length ? accuracyByLength(held.map((e) => e.src.length), hyps, refs) : [],
      attention: [],
    };
    const tv = this.data.tgtVocab;
    if (this.data.kind === 'pairs' && held.length) {
      const b = corpusBleu(hyps.map((h) => tv.tokenStrings(h)), held.map((e) => e.tgtTokens ?? tv.tokenStrings(e.tgt)), this.config.tokenization === 'char' ? 'characters' : 'words');
      record.bleu = b.bleu;
      record.bleuRecipe = b.recipe;
    }
    if (this.data.kind === 'task' && wantRows && held.length) {
      record.alignmentAccuracy = alignmentAccuracy(rows, held.map((e) => e.alignment ?? [])).accuracy;
    }
    for (let i = 0; i < pinned && wantRows; i++) {
      const e = held[i];
      record.attention.push({
        index: i,
        source: this.data.srcVocab.tokenStrings(e.src),
        reference: tv.tokenStrings(e.tgt),
        output: [...tv.tokenStrings(hyps[i]), ...(rows[i].length > hyps[i].length ? ['</s>'] : [])],
        weights: rows[i].map((r) => Array.from(r)),
        ...(e.alignment ? { alignment: e.alignment } : {}),
      });
    }
    return record;
  }
}
