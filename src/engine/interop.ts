/**
 * The bridge to PyTorch, both ways.
 *
 * Export: a run's checkpoint already uses `nn.RNN` / `nn.LSTM` / `nn.GRU` state_dict names and
 * shapes (weight_ih_l{k} [G*H, I], weight_hh_l{k} [G*H, H], bias_ih_l{k}, bias_hh_l{k} [G*H]; gate
 * order i, f, g, o and r, z, n), plus `embedding.weight` (nn.Embedding) and `head.weight`,
 * `head.bias` (nn.Linear). Exporting writes those tensors in float64 (lossless; load_state_dict
 * copies with dtype conversion into a float32 module) or float32 (half the size), with a
 * description of the matching PyTorch modules in __metadata__.
 *
 * Import: a safetensors state_dict of such modules (any common prefix such as `rnn.`, with or
 * without embedding and head) becomes a Network: the cell kind from G = rows(weight_hh) / H,
 * the sizes from the shapes, the layer count from the l{k} suffixes. Every shape that does not fit
 * the others is an error naming the tensor.
 */
import type { DiagnosticsRecord, GruVariant, RunConfig, RunSummary } from '../protocol/config';
import { SpectrumTracker } from './diagnostics/spectrum';
import { CHECKPOINT_FORMAT, encodeCheckpoint, loadCheckpoint } from './checkpoint';
import { DEFAULT_CONFIG, validateConfig } from './config';
import type { Dataset } from './data';
import { EngineError } from './errors';
import { parseJson } from './json';
import { GATE_NAMES, Network, type ModelSpec } from './network';
import { decodeSafetensors, encodeSafetensors, type DecodedSafetensors, type Dtype } from './safetensors';
import { datasetFor } from './session';
import { modelSpecFor } from './modelSpec';
import { Trainer } from './trainer';

const CELL_BY_GATES: Record<number, 'rnn' | 'gru' | 'lstm'> = { 1: 'rnn', 3: 'gru', 4: 'lstm' };
const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);
/** Names under which the embedding and the output layer are accepted (ours first, then the PyTorch word_language_model example's and common ones). */
const EMBEDDING_NAMES = ['embedding', 'embed', 'emb', 'encoder'];
const HEAD_NAMES = ['head', 'decoder', 'fc', 'linear', 'out', 'output'];

export interface InferredStateDict {
  spec: ModelSpec;
  /** Recurrent tensors under our names (prefix removed), embedding and head when present. */
  weights: Map<string, Float64Array>;
  /** The prefix the recurrent tensors had ('' or e.g. 'rnn.'). */
  prefix: string;
  hasEmbedding: boolean;
  hasHead: boolean;
  /** Vocabulary or series statistics from __metadata__ (files written by RNN Lab). */
  vocab?: string[];
  series?: { columns: string[]; mean: number[]; std: number[] };
  /** The run config from __metadata__, when it validates. */
  config?: RunConfig;
  step: number;
  /**
   * A vanilla RNN whose nonlinearity neither the caller nor the file gave (a plain PyTorch
   * state_dict does not record it): taken as tanh, torch.nn.RNN's default, with a warning.
   */
  activationAssumed: boolean;
  warnings: string[];
}

export interface ImportOptions {
  /** GRU form when the file does not say (PyTorch's nn.GRU is reset_after). */
  gruVariant?: GruVariant;
  rnnActivation?: 'tanh' | 'relu';
}

/** The state_dict's model. `where` names the file in every error. */
export function inferStateDict(bytes: Uint8Array | DecodedSafetensors, where: string, opts: ImportOptions = {}): InferredStateDict {
  const { tensors, metadata } = bytes instanceof Uint8Array ? decodeSafetensors(bytes, where) : bytes;
  const fail: (what: string, hint?: string) => never = (what, hint) => {
    throw new EngineError('bad-checkpoint', `${where}: ${what}`, hint ?? 'Import a state_dict of torch.nn.RNN, LSTM or GRU (optionally with nn.Embedding and nn.Linear) saved with safetensors; nothing was created.');
  };
  const warnings: string[] = [];
  // Recurrent tensors: <prefix>(weight|bias)_(ih|hh)_l<k>
  const recurrent = new Map<string, { dtype: string; shape: number[]; data: Float64Array }>();
  let prefix: string | undefined;
  const others: string[] = [];
  for (const [name, t] of tensors) {
    const m = /^(.*?)(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?$/.exec(name);
    if (!m) {
      others.push(name);
      continue;
    }
    if (m[5]) fail(`tensor ${name} belongs to a bidirectional RNN, which RNN Lab does not model`, 'Export the forward direction only (drop the *_reverse tensors); nothing was created.');
    if (m[3] === 'hr') fail(`tensor ${name} is an LSTM projection (proj_size > 0), which RNN Lab does not model`);
    if (prefix === undefined) prefix = m[1];
    else if (prefix !== m[1]) fail(`recurrent tensors with two prefixes ("${prefix}" and "${m[1]}"): the file holds more than one RNN`);
    if (!FLOAT_DTYPES.has(t.dtype)) fail(`tensor ${name} has dtype ${t.dtype}; weights must be floating point (F64, F32, F16 or BF16)`);
    recurrent.set(name.slice(m[1].length), t);
  }
  if (prefix === undefined) fail('no recurrent weights (weight_ih_l0, weight_hh_l0, ...) found');
  const get = (name: string) => recurrent.get(name);
  const whh0 = get('weight_hh_l0');
  if (!whh0) fail(`${prefix}weight_hh_l0 is missing`);
  if (whh0!.shape.length !== 2) fail(`${prefix}weight_hh_l0 has shape [${whh0!.shape}], not [G*H, H]`);
  const [rows, H] = whh0!.shape;
  if (H < 1 || rows % H !== 0 || !CELL_BY_GATES[rows / H]) {
    fail(`${prefix}weight_hh_l0 has shape [${rows}, ${H}]: ${rows}/${H} is not 1 (RNN), 3 (GRU) or 4 (LSTM) gate blocks of the hidden size ${H}`);
  }
  const G = rows / H;
  const cell = CELL_BY_GATES[G];
  let layers = 0;
  while (get(`weight_ih_l${layers}`) || get(`weight_hh_l${layers}`)) layers++;
  for (const name of recurrent.keys()) {
    const k = Number(/_l(\d+)$/.exec(name)![1]);
    if (k >= layers) fail(`${prefix}${name} is of layer ${k}, but layer ${layers} has no weights (layers must be numbered 0, 1, 2, ... without gaps)`);
  }
  const shapeOf = (name: string) => `[${get(name)!.shape}]`;
  let inputSize = 0;
  for (let l = 0; l < layers; l++) {
    const wih = get(`weight_ih_l${l}`);
    const whh = get(`weight_hh_l${l}`);
    if (!wih) fail(`${prefix}weight_ih_l${l} is missing (layer ${l} has weight_hh_l${l})`);
    if (!whh) fail(`${prefix}weight_hh_l${l} is missing (layer ${l} has weight_ih_l${l})`);
    if (whh!.shape.length !== 2 || whh!.shape[0] !== G * H || whh!.shape[1] !== H) {
      fail(`${prefix}weight_hh_l${l} has shape ${shapeOf(`weight_hh_l${l}`)}, but layer 0 makes it a ${cell.toUpperCase()} of hidden size ${H}: expected [${G * H}, ${H}]`);
    }
    if (wih!.shape.length !== 2 || wih!.shape[0] !== G * H || (l > 0 && wih!.shape[1] !== H)) {
      fail(`${prefix}weight_ih_l${l} has shape ${shapeOf(`weight_ih_l${l}`)}, expected [${G * H}, ${l > 0 ? H : 'input size'}]${l > 0 ? ' (a layer above the first takes the hidden state of the one below)' : ''}`);
    }
    if (l === 0) inputSize = wih!.shape[1];
    const bih = get(`bias_ih_l${l}`);
    const bhh = get(`bias_hh_l${l}`);
    for (const [name, b] of [[`bias_ih_l${l}`, bih], [`bias_hh_l${l}`, bhh]] as const) {
      if (b && (b.shape.length !== 1 || b.shape[0] !== G * H)) fail(`${prefix}${name} has shape ${shapeOf(name)}, expected [${G * H}]`);
    }
    if (!bih || !bhh) warnings.push(`layer ${l} has ${!bih && !bhh ? 'no biases (bias=False)' : `no ${!bih ? 'bias_ih' : 'bias_hh'}_l${l}`}: taken as zeros`);
  }
  if (inputSize < 1) fail(`${prefix}weight_ih_l0 has shape ${shapeOf('weight_ih_l0')}: an input size of 0`);

  const find = (names: string[], suffix: string) => names.map((n) => `${n}.${suffix}`).find((n) => tensors.has(n));
  const embName = find(EMBEDDING_NAMES, 'weight');
  const headName = find(HEAD_NAMES, 'weight');
  const headBiasName = headName ? headName.replace(/weight$/, 'bias') : find(HEAD_NAMES, 'bias');
  const weights = new Map<string, Float64Array>();
  for (const [name, t] of recurrent) weights.set(name, t.data);
  let embedding: { vocab: number; dim: number } | undefined;
  if (embName) {
    const e = tensors.get(embName)!;
    if (!FLOAT_DTYPES.has(e.dtype)) fail(`tensor ${embName} has dtype ${e.dtype}; weights must be floating point`);
    if (e.shape.length !== 2 || e.shape[1] !== inputSize) fail(`${embName} has shape [${e.shape}], expected [vocabulary, ${inputSize}] (its width is weight_ih_l0's input size)`);
    embedding = { vocab: e.shape[0], dim: inputSize };
    weights.set('embedding.weight', e.data);
  }
  let headOutputs = 0;
  if (headName) {
    const w = tensors.get(headName)!;
    if (!FLOAT_DTYPES.has(w.dtype)) fail(`tensor ${headName} has dtype ${w.dtype}; weights must be floating point`);
    if (w.shape.length !== 2 || w.shape[1] !== H) fail(`${headName} has shape [${w.shape}], expected [outputs, ${H}] (it reads the top layer's hidden state of size ${H})`);
    headOutputs = w.shape[0];
    weights.set('head.weight', w.data);
  }
  if (headBiasName && tensors.has(headBiasName)) {
    const b = tensors.get(headBiasName)!;
    if (!headName) fail(`${headBiasName} has no ${headBiasName.replace(/bias$/, 'weight')} beside it`);
    if (b.shape.length !== 1 || b.shape[0] !== headOutputs) fail(`${headBiasName} has shape [${b.shape}], expected [${headOutputs}] (one per row of ${headName})`);
    weights.set('head.bias', b.data);
  } else if (headName) warnings.push(`${headName} has no bias beside it: taken as zeros`);
  if (embedding && headName && headOutputs !== embedding.vocab) {
    fail(`${embName} has a vocabulary of ${embedding.vocab} but ${headName} predicts ${headOutputs} classes; a character model needs the same vocabulary in and out`);
  }
  const used = new Set([embName, headName, headBiasName]);
  const ignored = others.filter((n) => !used.has(n));
  if (ignored.length) warnings.push(`ignored ${ignored.length} tensor(s) that are not part of an RNN, embedding or head: ${ignored.slice(0, 5).join(', ')}${ignored.length > 5 ? ', ...' : ''}`);
  for (const [name, data] of weights) {
    const bad = data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) fail(`tensor ${name} holds ${data[bad]} at index ${bad}`);
  }

  // What RNN Lab itself wrote in __metadata__: the config (GRU form, activation), vocabulary, series.
  let config: RunConfig | undefined;
  let vocab: string[] | undefined;
  let series: InferredStateDict['series'];
  try {
    if (metadata.config) config = validateConfig(parseJson(metadata.config, `${where} metadata "config"`, 'bad-checkpoint', 'Ignored.'), `${where} metadata`).config;
  } catch {
    warnings.push('__metadata__ "config" is not a valid RNN Lab run config: ignored');
  }
  try {
    const v = metadata.vocab ? parseJson(metadata.vocab, 'vocab', 'bad-checkpoint', 'Ignored.') : undefined;
    if (v !== undefined && (!Array.isArray(v) || v.length === 0 || !v.every((c) => typeof c === 'string') || new Set(v).size !== v.length)) throw new Error();
    vocab = v;
  } catch {
    warnings.push('__metadata__ "vocab" is not a non-empty JSON list of distinct strings: ignored');
  }
  try {
    const s = metadata.series ? (parseJson(metadata.series, 'series', 'bad-checkpoint', 'Ignored.') as InferredStateDict['series']) : undefined;
    const finite = (a: unknown, n: number, positive: boolean) => Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
    if (s !== undefined && !(s && Array.isArray(s.columns) && s.columns.length > 0 && s.columns.every((c) => typeof c === 'string') && finite(s.mean, s.columns.length, false) && finite(s.std, s.columns.length, true))) throw new Error();
    series = s;
  } catch {
    warnings.push('__metadata__ "series" is not {columns, mean, std}: ignored');
  }
  const gruVariant = opts.gruVariant ?? metadata.gru_variant ?? config?.gruVariant ?? 'reset_after';
  if (gruVariant !== 'reset_after' && gruVariant !== 'reset_before') fail(`__metadata__ gru_variant is "${gruVariant}", not reset_after or reset_before`);
  const givenActivation = opts.rnnActivation ?? metadata.nonlinearity ?? config?.rnnActivation;
  const rnnActivation = givenActivation ?? 'tanh';
  if (rnnActivation !== 'tanh' && rnnActivation !== 'relu') fail(`__metadata__ nonlinearity is "${rnnActivation}", not tanh or relu`);
  const activationAssumed = cell === 'rnn' && givenActivation === undefined;
  if (activationAssumed) {
    warnings.push("a state_dict does not record a vanilla RNN's nonlinearity: taken as tanh, torch.nn.RNN's default (a model built with nonlinearity='relu' needs --activation relu)");
  }
  if (config && (config.cell !== cell || config.layers !== layers || config.hidden !== H)) {
    warnings.push(`the metadata config says ${config.cell} ${config.layers}x${config.hidden}, the tensors ${cell} ${layers}x${H}: the tensors win`);
  }
  const step = Number(metadata.step);
  const spec: ModelSpec = {
    cell,
    gruVariant: gruVariant as GruVariant,
    rnnActivation: rnnActivation as 'tanh' | 'relu',
    layers,
    hidden: H,
    input: embedding ? { kind: 'embedding', ...embedding } : { kind: 'dense', size: inputSize },
    head: headName ? { kind: 'linear', outputs: headOutputs } : { kind: 'none' },
    dropout: 0,
  };
  return {
    spec,
    weights,
    prefix: prefix!,
    hasEmbedding: !!embedding,
    hasHead: !!headName,
    vocab,
    series,
    config,
    step: Number.isSafeInteger(step) && step >= 0 ? step : 0,
    activationAssumed,
    warnings,
  };
}

/** Copies the inferred weights into a network built from `spec` (missing biases and head stay zero). */
export function fillNetwork(net: Network, weights: Map<string, Float64Array>): void {
  for (const t of net.params.tensors) {
    const w = weights.get(t.name);
    if (w) net.params.view(t.name).set(w);
  }
}

/** The state_dict as a network as it is (any input and head sizes): for checks and inspection. */
export function networkFromStateDict(bytes: Uint8Array, where: string, opts: ImportOptions = {}): { net: Network; inferred: InferredStateDict } {
  const inferred = inferStateDict(bytes, where, opts);
  const spec = { ...inferred.spec };
  // A head over a vocabulary is a softmax; with the metadata saying forecasting, linear.
  if (spec.head.kind === 'linear' && inferred.series === undefined) spec.head = { kind: 'softmax', classes: spec.head.outputs };
  const net = new Network(spec);
  fillNetwork(net, inferred.weights);
  return { net, inferred };
}

/** What the import needs from the user: a vocabulary (required / optional) or nothing. */
export function vocabularyNeed(m: InferredStateDict): 'required' | 'optional' | 'none' {
  if (m.vocab || m.series) return 'none';
  return m.hasEmbedding ? 'required' : 'optional';
}

/** A vocabulary from a file: a JSON list of strings (e.g. vocab.json), else the sorted distinct characters of the text (as training builds it). */
export function vocabularyFrom(text: string, file: string): string[] {
  if (/\.json$/i.test(file)) {
    const v = parseJson(text, file, 'bad-config', 'Give a JSON list of strings, one per token id, or a text file.');
    if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) {
      throw new EngineError('bad-config', `${file} is not a JSON list of strings`, 'Give a JSON list of strings, one per token id, or a text file.');
    }
    if (v.length === 0) throw new EngineError('bad-config', `${file} is an empty list: a vocabulary needs at least one symbol`, 'Give the vocabulary the model was trained with.');
    const seen = new Set<string>();
    for (const c of v) {
      if (seen.has(c)) throw new EngineError('bad-config', `${file} lists the symbol ${JSON.stringify(c.slice(0, 20))} twice, so its token ids are ambiguous`, 'Give each symbol once, in token-id order.');
      seen.add(c);
    }
    return v;
  }
  // Same rule as textDataset(): every distinct code point, sorted (Python's sorted(set(text)) for BMP text).
  return [...new Set(Array.from(text))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface ImportedRun {
  config: RunConfig;
  checkpoint: Uint8Array;
  summary: RunSummary;
  /** sigma_1 (and the spectrum) of every W_hh block of the imported weights. */
  diagnostics: DiagnosticsRecord;
  warnings: string[];
  /** A one-line description: "LSTM 2x128, embedding 75x32, head 75 (character model)". */
  description: string;
}

/**
 * A state_dict made into a run: a config, a checkpoint in RNN Lab's format (loadCheckpoint reads
 * it) and one diagnostics record. `vocab` (with `vocabSource`, the file it came from) is needed
 * when the file has none and an embedding; without one, a model without embedding becomes a
 * forecaster over its input size. With `text` (the training text the vocabulary came from), the
 * imported weights are also probed on it: validation loss, and from one forward and backward
 * pass over a training chunk, gate saturation, per-tensor gradient norms and the gradient flow
 * through time. Throws EngineError on anything that does not fit; pure, so nothing is written
 * until it returns.
 */
export function importAsRun(
  bytes: Uint8Array,
  where: string,
  opts: ImportOptions & {
    vocab?: string[];
    vocabSource?: string;
    name: string;
    /** The vocabulary's source text, for the probe below. */
    text?: string;
    /** Skip the probe when it would cost more than this many floating-point operations (a caller on a UI thread sets it). */
    probeBudgetFlops?: number;
  },
): ImportedRun {
  const m = inferStateDict(bytes, where, opts);
  const warnings = [...m.warnings];
  const fail = (what: string, hint: string): never => {
    throw new EngineError('bad-checkpoint', `${where}: ${what}`, hint);
  };
  const I = m.spec.input.kind === 'embedding' ? m.spec.input.vocab : m.spec.input.kind === 'dense' ? m.spec.input.size : 0;
  const outputs = m.spec.head.kind === 'linear' ? m.spec.head.outputs : undefined;
  const vocab = opts.vocab ?? m.vocab;
  let dataset: Dataset;
  if (vocab && !(m.series && !opts.vocab)) {
    // A character model: one-hot (input size = vocabulary) or embedding (rows = vocabulary).
    if (vocab.length !== I) {
      fail(
        `the vocabulary${opts.vocabSource ? ` from ${opts.vocabSource}` : ''} has ${vocab.length} symbols but the model ${m.hasEmbedding ? 'embeds' : 'takes one-hot inputs of'} ${I}`,
        'Give the vocabulary the model was trained with (a JSON list, or the training text); nothing was created.',
      );
    }
    if (outputs !== undefined && outputs !== I) fail(`the head predicts ${outputs} classes but the vocabulary has ${I}`, 'A character model predicts its own vocabulary; nothing was created.');
    dataset = { kind: 'text', vocab, train: new Int32Array(0), val: new Int32Array(0) };
  } else if (m.hasEmbedding) {
    return fail(
      `the file has an embedding of ${I} symbols but no vocabulary in its __metadata__`,
      'Give the vocabulary: the training text (its sorted distinct characters) or a JSON list of strings; nothing was created.',
    );
  } else {
    if (outputs !== undefined && outputs !== I) {
      fail(
        `the head has ${outputs} outputs for ${I} inputs and there is no vocabulary: RNN Lab runs predict their own input (the next character or the next value)`,
        'Import it with a vocabulary of its input size, or without the head; nothing was created.',
      );
    }
    const s = m.series && m.series.columns.length === I ? m.series : undefined;
    const columns = s?.columns ?? Array.from({ length: I }, (_, k) => `x${k}`);
    dataset = { kind: 'series', columns, channels: I, train: new Float64Array(0), val: new Float64Array(0), mean: s?.mean ?? columns.map(() => 0), std: s?.std ?? columns.map(() => 1) };
    if (!s) warnings.push(`no vocabulary: imported as a forecasting model over ${I} real-valued inputs (columns ${columns.slice(0, 3).join(', ')}${I > 3 ? ', ...' : ''}, not normalised)`);
  }
  if (!m.hasHead) warnings.push(`no head in the file: a zero head (uniform predictions) was added; the recurrent weights and their diagnostics are the file's, losses and samples are not meaningful until trained`);
  const base = m.config ?? DEFAULT_CONFIG;
  const raw: RunConfig = {
    ...base,
    name: opts.name,
    task: dataset.kind === 'text' ? 'charlm' : 'forecast',
    data: opts.vocabSource ?? (dataset.kind === 'text' ? base.data : ''),
    cell: m.spec.cell,
    gruVariant: m.spec.gruVariant,
    rnnActivation: m.spec.rnnActivation,
    layers: m.spec.layers,
    hidden: m.spec.hidden,
    embedding: m.spec.input.kind === 'embedding' ? m.spec.input.dim : 0,
    dropout: base.dropout,
  };
  if (dataset.kind === 'series') raw.columns = dataset.columns;
  else delete raw.columns;
  const config = validateConfig(raw, `${where} (inferred config)`).config;
  const net = new Network({ ...modelSpecFor(config, dataset), dropout: 0 });
  fillNetwork(net, m.weights);
  const H = m.spec.hidden;
  const spectrum = new SpectrumTracker(net).measure(H <= 128);
  const cellName = m.spec.cell === 'gru' ? `GRU (${m.spec.gruVariant.replace('_', ' ')})` : m.spec.cell.toUpperCase();
  const description =
    `${cellName} ${m.spec.layers}x${H}` +
    (m.spec.input.kind === 'embedding' ? `, embedding ${m.spec.input.vocab}x${m.spec.input.dim}` : `, input ${I}`) +
    (m.hasHead ? `, head ${net.outputSize}` : ', no head') +
    (dataset.kind === 'text' ? ` (character model, vocabulary ${dataset.vocab.length})` : ' (forecasting)');
  const checkpoint = encodeCheckpoint(net, config, dataset, m.step, { imported_from: where, ...(m.hasHead ? {} : { head: 'absent in the imported file: zeros' }) });
  const summary: RunSummary = { status: 'finished', step: m.step, message: `imported from ${where}: ${description}` };
  const diagnostics: DiagnosticsRecord = { type: 'diagnostics', step: m.step, spectrum, saturation: [], flow: [], paramGradNorms: {} };
  if (opts.text !== undefined && dataset.kind === 'text') {
    // ~2 flops per weight per position forward, ~4 more backward: one training chunk and the evaluation.
    const cost = 2 * net.params.size * (3 * config.seqLength * config.batch + PROBE_EVAL_POSITIONS);
    if (cost > (opts.probeBudgetFlops ?? Infinity)) {
      warnings.push(`the model is too large to measure saturation and gradient flow here (${(cost / 1e9).toFixed(1)} GFLOP); rnn-lab import --vocab does it`);
    } else probe(config, net, m.hasHead, opts.text, opts.vocabSource ?? 'the text', summary, diagnostics, warnings);
  }
  return { config, checkpoint, summary, diagnostics, warnings, description };
}

/** Positions of held-out text the import's validation loss reads (enough for 2 digits of bpc, quick on the host). */
const PROBE_EVAL_POSITIONS = 2000;

/**
 * Measures the imported weights on their training text. A Trainer over the text gets a copy of
 * the weights; its evaluate() gives the validation loss, and one trainStep(diagnose) runs forward
 * and backward at those weights and records saturation, gradient norms and flow before its
 * update, which changes only the probe's copy (then dropped). Without a head only saturation is
 * measured: a zero head sends no gradient back.
 */
function probe(config: RunConfig, net: Network, hasHead: boolean, text: string, source: string, summary: RunSummary, diagnostics: DiagnosticsRecord, warnings: string[]): void {
  let trainer: Trainer;
  try {
    trainer = new Trainer({ ...config, dropout: 0 }, datasetFor(config, text));
  } catch (e) {
    warnings.push(`no saturation or gradient-flow diagnostics: ${e instanceof EngineError ? e.message : String(e)}`);
    return;
  }
  if (trainer.net.params.size !== net.params.size) {
    warnings.push(`no saturation or gradient-flow diagnostics: the characters of ${source} are not the model's vocabulary`);
    return;
  }
  trainer.net.params.data.set(net.params.data);
  if (!hasHead) {
    diagnostics.saturation = trainer.validationSaturation(PROBE_EVAL_POSITIONS) ?? [];
    return;
  }
  const val = trainer.evaluate(PROBE_EVAL_POSITIONS);
  if (val) {
    summary.valLoss = val.loss;
    summary.valBpc = val.bpc;
  }
  let step: ReturnType<Trainer['trainStep']>;
  try {
    step = trainer.trainStep(true, false);
  } catch (e) {
    warnings.push(`no gradient-flow diagnostics: ${e instanceof EngineError ? e.message : String(e)}`);
    return;
  }
  summary.loss = step.loss;
  summary.bpc = step.loss / Math.LN2;
  diagnostics.saturation = step.diagnostics!.saturation;
  diagnostics.flow = step.diagnostics!.flow;
  diagnostics.paramGradNorms = step.paramGradNorms;
  summary.message += `; on ${source}: ${val?.bpc !== undefined ? `validation bpc ${val.bpc.toFixed(3)}, ` : ''}training-chunk bpc ${summary.bpc.toFixed(3)}`;
}

export interface ExportedStateDict {
  bytes: Uint8Array;
  /** The PyTorch modules that load it, one per line. */
  modules: string[];
  warnings: string[];
}

/** What PyTorch module a network corresponds to, in constructor form. */
export function pytorchModules(spec: ModelSpec, inputSize: number, outputs: number, dropout: number): string[] {
  const cls = spec.cell === 'rnn' ? 'RNN' : spec.cell === 'lstm' ? 'LSTM' : 'GRU';
  const extra = (spec.cell === 'rnn' ? `, nonlinearity='${spec.rnnActivation}'` : '') + (spec.layers > 1 && dropout > 0 ? `, dropout=${dropout}` : '');
  const lines: string[] = [];
  if (spec.input.kind === 'embedding') lines.push(`embedding = torch.nn.Embedding(${spec.input.vocab}, ${spec.input.dim})`);
  lines.push(`rnn = torch.nn.${cls}(input_size=${inputSize}, hidden_size=${spec.hidden}, num_layers=${spec.layers}${extra})  # time-major input (T, B, I); gates ${GATE_NAMES[spec.cell].join(', ')}`);
  if (outputs > 0) lines.push(`head = torch.nn.Linear(${spec.hidden}, ${outputs})`);
  return lines;
}

/**
 * A run's checkpoint as a plain PyTorch state_dict file: the same names and shapes, F64 or F32,
 * the config and vocabulary kept in __metadata__ (safetensors' load_file ignores it). The
 * reset-before GRU has no PyTorch module: the file is still written, with a warning in the
 * result and in the metadata.
 */
export function exportStateDict(checkpointBytes: Uint8Array, where: string, dtype: Dtype = 'F64', prefix = ''): ExportedStateDict {
  const { net, config, vocab } = loadCheckpoint(checkpointBytes, where);
  const { metadata } = decodeSafetensors(checkpointBytes, where);
  const warnings: string[] = [];
  const modules = pytorchModules(net.spec, net.inputSize, net.outputSize, config.dropout);
  if (net.spec.cell === 'gru' && net.spec.gruVariant === 'reset_before') {
    warnings.push(
      'this GRU applies the reset gate before the recurrent product (Cho et al. 2014, gruVariant reset_before); torch.nn.GRU applies it after, so the tensors load into nn.GRU but compute a different function there',
    );
  }
  if (net.spec.input.kind === 'onehot') warnings.push(`inputs are one-hot vectors of the ${net.inputSize}-symbol vocabulary (no nn.Embedding): feed torch.nn.functional.one_hot(ids, ${net.inputSize}) converted to the module's dtype`);
  if (dtype === 'F32') warnings.push('written as float32: values are rounded to float32 (relative error up to 6e-8); use --dtype f64 for the exact weights');
  const p = net.params;
  const rename = (name: string) => (/^(weight|bias)_/.test(name) ? prefix + name : name);
  const tensors = p.tensors.map((t) => ({ name: rename(t.name), shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) }));
  const out: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    config: JSON.stringify(config),
    step: metadata.step ?? '0',
    pytorch: modules.join('\n'),
  };
  if (net.spec.cell === 'gru') out.gru_variant = net.spec.gruVariant;
  if (net.spec.cell === 'rnn') out.nonlinearity = net.spec.rnnActivation;
  if (vocab) out.vocab = JSON.stringify(vocab);
  else if (metadata.series) out.series = metadata.series;
  if (warnings.length && net.spec.gruVariant === 'reset_before' && net.spec.cell === 'gru') out.warning = warnings[0];
  return { bytes: encodeSafetensors(tensors, out, dtype), modules, warnings };
}
