/**
 * A PyTorch seq2seq state_dict (safetensors with the oracle-s2s README's names: src_embedding.weight,
 * encoder.weight_ih_l0, attention.weight, head.bias, ...) made into a run that `translate` loads.
 *
 * The model is read off the names and shapes: E and V_src from src_embedding.weight [V_src, E];
 * H from encoder.weight_hh_l0 [G·H, H]; the cell from G (1 rnn, 3 gru, 4 lstm); L from the
 * encoder's layers; the attention from its tensors (attention.weight: general; attention.combine
 * alone: dot; attention.query/key/v: additive with A = query rows; none of them: none). Every
 * tensor the model has must be there with its shape, and nothing else. A file written by RNN Lab
 * (`rnn-lab export` of a seq2seq run) carries its config and vocabularies in __metadata__; any
 * other file needs the vocabularies: a JSON object {"source": [...], "target": [...]} whose lists
 * are every id's token (starting "<pad>", "<bos>", "<eos>"[, "<unk>"]) or the tokens of ids 3 and
 * up, with an optional "tokenization": "char" | "word" (default: char when every token is one
 * character). Pure: nothing is written until the caller has the whole run.
 */
import type { GruVariant, RunConfig, SpectrumEntry } from '../protocol/config';
import { DEFAULT_CONFIG, validateConfig } from './config';
import { recurrentBlocks, singularValues } from './diagnostics/spectrum';
import { EngineError } from './errors';
import type { ImportedRun } from './interop';
import { parseJson } from './json';
import { Seq2Seq } from './models/seq2seq';
import { decodeSafetensors, type DecodedSafetensors } from './safetensors';
import { encodeSeq2SeqCheckpoint, SEQ2SEQ_CHECKPOINT_FORMAT } from './seq2seqCheckpoint';
import { seq2seqSpecFor } from './seq2seqTrainer';
import { Vocab, type Tokenization } from './seq2seq/vocab';

/** Whether a state_dict's names are a seq2seq model's (so an import takes this path). */
export function isSeq2SeqStateDict(decoded: DecodedSafetensors): boolean {
  for (const name of decoded.tensors.keys()) if (/^(encoder|decoder)\.weight_ih_l\d+$|^src_embedding\.weight$/.test(name)) return true;
  return false;
}

/** A seq2seq state_dict made into a run: what a language model's import gives (interop.ts). */
export type ImportedSeq2Seq = ImportedRun;

const CELLS: Record<number, 'rnn' | 'gru' | 'lstm'> = { 1: 'rnn', 3: 'gru', 4: 'lstm' };

export function importSeq2SeqAsRun(
  bytes: Uint8Array | DecodedSafetensors,
  where: string,
  opts: { name: string; vocabText?: string; vocabSource?: string; gruVariant?: GruVariant; rnnActivation?: 'tanh' | 'relu' },
): ImportedSeq2Seq {
  const decoded = bytes instanceof Uint8Array ? decodeSafetensors(bytes, where) : bytes;
  const { tensors, metadata } = decoded;
  const fail = (what: string, hint = 'Import a state_dict of the seq2seq module in RNN Lab\'s README (PyTorch part), saved with safetensors; nothing was created.'): never => {
    throw new EngineError('bad-checkpoint', `${where}: ${what}`, hint);
  };
  const shapeOf = (name: string): number[] => tensors.get(name)?.shape ?? fail(`the seq2seq tensor ${name} is missing`);
  const [vSrc, E] = shapeOf('src_embedding.weight');
  const [vTgt] = shapeOf('tgt_embedding.weight');
  const [GH, H] = shapeOf('encoder.weight_hh_l0');
  const cell = CELLS[GH / H];
  if (!cell) fail(`encoder.weight_hh_l0 has shape [${GH}, ${H}]: ${GH / H} gate blocks, not 1 (RNN), 3 (GRU) or 4 (LSTM)`);
  let L = 0;
  while (tensors.has(`encoder.weight_hh_l${L}`)) L++;
  const attention = tensors.has('attention.weight') ? 'general' : tensors.has('attention.combine.weight') ? 'dot' : tensors.has('attention.query.weight') ? 'additive' : 'none';
  const A = attention === 'additive' ? shapeOf('attention.query.weight')[0] : 0;

  const warnings: string[] = [];
  const ours = metadata.format === SEQ2SEQ_CHECKPOINT_FORMAT ? fromMetadata(metadata, where) : undefined;
  const vocab = ours ?? vocabularies(opts.vocabText, opts.vocabSource, vSrc, vTgt, fail);
  if (!ours && cell === 'gru' && !opts.gruVariant) warnings.push('a GRU is read as torch.nn.GRU (reset after); pass --gru-variant reset_before for the other one');
  if (!ours && cell === 'rnn' && !opts.rnnActivation) warnings.push('a vanilla RNN is read as tanh (torch.nn.RNN\'s default); pass --activation relu for the other one');
  const raw: RunConfig = {
    ...DEFAULT_CONFIG,
    ...(ours?.config ?? {}),
    name: opts.name,
    task: ours?.config.task ?? 'seq2seq',
    data: ours?.config.data ?? '',
    cell,
    gruVariant: opts.gruVariant ?? ours?.config.gruVariant ?? 'reset_after',
    rnnActivation: opts.rnnActivation ?? ours?.config.rnnActivation ?? 'tanh',
    layers: L,
    hidden: H,
    embedding: E,
    attention,
    attentionSize: A,
    tokenization: vocab.src.tokenization,
  };
  const config = validateConfig(raw, `${where} (inferred config)`).config;
  if (vocab.src.size !== vSrc || vocab.tgt.size !== vTgt) {
    fail(`the vocabularies have ${vocab.src.size} source and ${vocab.tgt.size} target tokens, the embeddings ${vSrc} and ${vTgt} rows`, 'Give the vocabularies the model was trained with (every id\'s token); nothing was created.');
  }
  const model = new Seq2Seq(seq2seqSpecFor(config, vSrc, vTgt));
  const expected = new Set(model.params.tensors.map((t) => t.name));
  for (const t of model.params.tensors) {
    const src = tensors.get(t.name);
    if (!src) fail(`the tensor ${t.name} of a ${cell.toUpperCase()} ${L}x${H} model with ${attention} attention is missing`);
    if (src!.shape.join() !== t.shape.join()) fail(`${t.name} has shape [${src!.shape}], the model needs [${t.shape}] (E ${E}, H ${H}, ${L} layers, ${attention} attention)`);
    model.params.view(t.name).set(src!.data);
  }
  const extra = [...tensors.keys()].filter((n) => !expected.has(n));
  if (extra.length) fail(`${extra.length} tensor${extra.length > 1 ? 's' : ''} the seq2seq model does not have: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''}`);

  const step = Number(metadata.step ?? 0);
  const at = Number.isSafeInteger(step) && step >= 0 ? step : 0;
  const checkpoint = encodeSeq2SeqCheckpoint(model, config, vocab.src, vocab.tgt, at);
  const spectrum: SpectrumEntry[] = [];
  for (const side of ['encoder', 'decoder']) {
    for (let l = 0; l < L; l++) {
      const base = model.params.spec(`${side}.weight_hh_l${l}`).offset;
      for (const b of recurrentBlocks(cell, H)) {
        const s = singularValues(model.params.data, base + b.row * H, b.rows, H);
        spectrum.push({ layer: l, block: `${side}.${b.block}`, sigma1: s[0], singularValues: s, reference: b.reference });
      }
    }
  }
  const cellName = cell === 'gru' ? `GRU (${config.gruVariant.replace('_', ' ')})` : cell.toUpperCase();
  const description = `seq2seq ${cellName} ${L}x${H}, embedding ${E}, ${attention} attention${A ? ` (size ${A})` : ''}, vocabularies ${vSrc} / ${vTgt} (${config.tokenization} tokens)`;
  return {
    config,
    checkpoint,
    summary: { status: 'finished', step: at, message: `imported from ${where}: ${description}` },
    diagnostics: { type: 'diagnostics', step: at, spectrum, saturation: [], flow: [], paramGradNorms: {} },
    warnings,
    description,
  };
}

function fromMetadata(metadata: Record<string, string>, where: string): { config: RunConfig; src: Vocab; tgt: Vocab } {
  const hint = 'The file says it was written by RNN Lab but its metadata is damaged: export the run again.';
  const parse = (key: string): unknown => parseJson(metadata[key] ?? '', `${where} __metadata__ ${key}`, 'bad-checkpoint', hint);
  return { config: validateConfig(parse('config'), `${where} __metadata__`).config, src: Vocab.fromJSON(parse('srcVocab')), tgt: Vocab.fromJSON(parse('tgtVocab')) };
}

function vocabularies(text: string | undefined, source: string | undefined, vSrc: number, vTgt: number, fail: (what: string, hint?: string) => never): { src: Vocab; tgt: Vocab } {
  const hint = 'Give --vocab VOCAB.json: {"source": [...], "target": [...]}, each list every id\'s token ("<pad>", "<bos>", "<eos>", ...) or the tokens of ids 3 and up; nothing was created.';
  if (text === undefined) return fail(`a seq2seq model (source vocabulary ${vSrc}, target ${vTgt}) with no vocabularies in its __metadata__`, hint);
  const where = source ?? 'the vocabulary file';
  const v = parseJson(text, where, 'bad-config', hint) as { source?: unknown; target?: unknown; tokenization?: unknown } | null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(`${where} is not a JSON object with "source" and "target" lists`, hint);
  const lists = [v.source, v.target];
  if (!lists.every((l) => Array.isArray(l) && l.every((t) => typeof t === 'string'))) return fail(`${where}: "source" and "target" must both be lists of strings`, hint);
  const [s, t] = lists as string[][];
  if (v.tokenization !== undefined && v.tokenization !== 'char' && v.tokenization !== 'word') return fail(`${where}: "tokenization" is ${JSON.stringify(v.tokenization)}, not "char" or "word"`, hint);
  const real = (tokens: string[]): string[] => tokens.slice(tokens[0] !== '<pad>' ? 0 : tokens[3] === '<unk>' ? 4 : 3);
  const tokenization: Tokenization = (v.tokenization as Tokenization | undefined) ?? ([...real(s), ...real(t)].every((x) => Array.from(x).length === 1) ? 'char' : 'word');
  const make = (tokens: string[]): Vocab => {
    if (tokens[0] === '<pad>') return Vocab.fromJSON({ format: 'rnn-lab-vocab/1', tokenization, tokens, unk: tokens[3] === '<unk>' });
    return new Vocab(tokenization, tokens, false);
  };
  return { src: make(s), tgt: make(t) };
}
