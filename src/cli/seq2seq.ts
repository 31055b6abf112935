/**
 * The seq2seq side of `rnn-lab`: train on a generated task (no FILE) or a pairs file, resume,
 * translate, the seq2seq part of report, export. main.ts calls in through small hooks and hands
 * over what it owns (config from flags, the training loop's run directory writer).
 */
import { existsSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunConfig, RunSummary, Seq2SeqEvalRecord } from '../protocol/config';
import { parseJson } from '../engine/json';
import { EngineError, quote } from '../engine/errors';
import { Seq2SeqStepDecoder } from '../engine/models/seq2seqDecoder';
import { decodeSafetensors, encodeSafetensors } from '../engine/safetensors';
import { beamSearch, greedyDecode } from '../engine/seq2seq/decoding';
import { loadSeq2SeqCheckpoint, SEQ2SEQ_CHECKPOINT_FORMAT, type LoadedSeq2Seq } from '../engine/seq2seqCheckpoint';
import { seq2seqData } from '../engine/seq2seqTrainer';
import { latestModel, noModelYet } from '../runFolder/generation';
import { readText, runFiles, runPath } from '../runFolder/runFolder';
import { createRunDir, readRecords, runDir, type RunDir } from './runDir';
import { readDataFile, shown, writeFileAtomic } from './files';

/** Run-config flags of the seq2seq runs (merged into train's flag table). */
export const SEQ2SEQ_FLAG_KEYS: Record<string, [keyof RunConfig, 'num' | 'str' | 'list']> = {
  attention: ['attention', 'str'], 'attention-size': ['attentionSize', 'num'], 'src-len': ['srcLen', 'str'], alphabet: ['alphabet', 'str'],
  'teacher-forcing': ['teacherForcing', 'num'], tokenization: ['tokenization', 'str'], 'held-out': ['heldOut', 'num'], pinned: ['pinned', 'num'],
};

export const SEQ2SEQ_HELP = {
  train: `       rnn-lab train --task reverse|copy|sort|date|addition [--attention none|dot|general|additive]
              [--src-len 5-10] [--alphabet digits|letters|CHARS] [--embedding N] [--attention-size N]
              [--teacher-forcing X] [--held-out N] [--pinned N] [--eval-every N] ...   (no FILE)
       rnn-lab train PAIRS.tsv|PAIRS.csv --task seq2seq [--tokenization char|word] ...
  Seq2seq: an encoder and a decoder of --cell with --layers and --hidden, attention as given (default
  dot); generated tasks have a disjoint held-out set; pairs files hold out a tenth of their sources.
  Every --eval-every steps: greedy exact match, token accuracy, by source length, BLEU-4 (pairs),
  alignment accuracy (generated tasks), into eval.jsonl; summary.json gets exactMatch, tokenAccuracy.`,
  translate: `rnn-lab translate RUN_DIR "TEXT" [--beam N] [--alpha X]
  Runs a seq2seq run on TEXT (one source per line) and prints each output and its attention as a
  table (rows: output tokens, columns: source tokens, weights in percent). --beam N: beam search
  of width N with the GNMT length penalty alpha (default 0.6); default greedy.`,
};

type Hooks = {
  configFromFlags: (file: string, flags: Map<string, string>) => RunConfig;
  trainInDir: (run: RunDir, config: RunConfig, text: string, quiet: boolean) => Promise<void>;
};

/** train for a seq2seq task: generated (no FILE) or a pairs file. Returns the run directory. */
export async function trainSeq2Seq(positional: string[], flags: Map<string, string>, hooks: Hooks): Promise<string> {
  const task = flags.get('task');
  let file = '';
  let text = '';
  if (task === 'seq2seq') {
    if (positional.length !== 1) throw new EngineError('bad-config', `--task seq2seq needs exactly one pairs FILE${positional.length ? `, got ${positional.length}` : ''}`, 'Pass a TSV (source<TAB>target per line) or a CSV file.');
    file = positional[0];
    if (!existsSync(file)) throw new EngineError('bad-config', `${shown(file)} does not exist`, 'Check the path.');
  } else if (positional.length) {
    throw new EngineError('bad-config', `--task ${task} generates its data and takes no FILE (got ${positional[0]})`, 'Drop the file, or use --task seq2seq to train on a pairs file.');
  }
  const config = hooks.configFromFlags(file, flags.has('name') ? flags : new Map([...flags, ['name', `${flags.get('cell') ?? 'lstm'}-${file ? file.split(/[\\/]/).pop()!.replace(/\.[^.]*$/, '') : task}-${flags.get('attention') ?? 'dot'}`]]));
  if (file) text = readDataFile(file, config.maxFileBytes, 'pairs file');
  const data = seq2seqData(config, file ? text : undefined); // bad data is refused before a run directory exists
  let run: RunDir;
  try {
    run = await createRunDir(flags.get('out'), config);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('bad-config', `cannot create the run directory: ${(e as Error).message}`, 'Pick another --out (a new folder).');
  }
  const what = file || `${config.task} (lengths ${config.srcLen}, ${data.heldOut.length} held out)`;
  console.log(`training seq2seq ${config.cell} ${config.layers}x${config.hidden}, attention ${config.attention}, on ${what} -> ${run.dir}`);
  await hooks.trainInDir(run, config, text, false);
  return run.dir;
}

/** A seq2seq run's latest model (runFolder/generation.ts latestModel: also while it trains). */
export async function loadSeq2SeqRun(dir: string): Promise<LoadedSeq2Seq> {
  if (!statOrUndefined(dir)?.isDirectory()) throw new EngineError('bad-config', `run folder ${shown(dir)} does not exist or is not a folder`, 'Pick a run directory written by rnn-lab train --task ...');
  const { fs, id } = runDir(dir);
  const model = await latestModel(fs, id);
  if ('problem' in model) {
    throw new EngineError('bad-checkpoint', `${shown(dir)} has no model: ${model.problem}`, model.problem === noModelYet ? 'rnn-lab train --resume it, or pick another run.' : 'Train the run first, or pick another run directory.');
  }
  return loadSeq2SeqCheckpoint(model.bytes, join(dirname(dir), model.where));
}

/** One line of progress for an evaluation record. */
export function evalLine(r: Seq2SeqEvalRecord): string {
  const parts = [`  held-out step ${r.step}: exact match ${(100 * r.exactMatch).toFixed(1)}%`, `token accuracy ${(100 * r.tokenAccuracy).toFixed(1)}%`];
  if (r.bleu !== undefined) parts.push(`BLEU ${(100 * r.bleu).toFixed(2)}`);
  if (r.alignmentAccuracy !== undefined) parts.push(`alignment ${(100 * r.alignmentAccuracy).toFixed(1)}%`);
  return parts.join(', ');
}

/** A weights table: rows = output tokens, columns = source tokens, percent. */
export function attentionTable(source: string[], output: string[], weights: ArrayLike<number>[]): string {
  const width = Math.max(4, ...source.map((s) => s.length + 1));
  const rowHead = Math.max(6, ...output.map((s) => s.length + 1));
  const lines = [' '.repeat(rowHead) + source.map((s) => s.padStart(width)).join('')];
  output.forEach((o, t) => {
    const w = weights[t];
    let best = 0;
    for (let s = 1; s < source.length; s++) if (w[s] > w[best]) best = s;
    lines.push(o.padEnd(rowHead) + source.map((_, s) => `${Math.round(100 * w[s])}${s === best ? '*' : ' '}`.padStart(width)).join(''));
  });
  return lines.join('\n');
}

/** translate RUN_DIR "TEXT": each line a source; prints the output and the attention table. */
/** The widest beam translate searches, and the most text it takes at once. */
const MAX_BEAM = 64;
const MAX_TRANSLATE_CHARS = 100_000;

/** A decimal flag value in [min, max] (whole when `whole`), or one line saying what it takes. */
function boundedFlag(flag: string, value: string, min: number, max: number, whole: boolean): number {
  const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max) || (whole && !Number.isInteger(n))) {
    throw new EngineError('bad-config', `--${flag} must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${quote(value)}`, flag === 'beam' ? 'Give the beam width, e.g. --beam 4 (0: greedy).' : 'The GNMT length penalty is usually 0.6-1.');
  }
  return n;
}

export async function translate(dir: string, text: string, flags: Map<string, string>): Promise<string> {
  // Each candidate set is width x V_tgt per step: the width is bounded so a typo cannot exhaust memory.
  const beam = flags.has('beam') ? boundedFlag('beam', flags.get('beam')!, 0, MAX_BEAM, true) : 0;
  const alpha = flags.has('alpha') ? boundedFlag('alpha', flags.get('alpha')!, 0, 10, false) : 0.6;
  if (text.length > MAX_TRANSLATE_CHARS) {
    throw new EngineError('bad-config', `the text to translate is ${text.length.toLocaleString('en-US')} characters, over the ${MAX_TRANSLATE_CHARS.toLocaleString('en-US')} translate takes`, 'Translate it in parts.');
  }
  // The flags and the text are checked before the model is read: a bad one costs nothing.
  const { model, srcVocab, tgtVocab } = await loadSeq2SeqRun(dir);
  const dec = new Seq2SeqStepDecoder(model);
  const out: string[] = [];
  for (const line of text.split(/\r?\n/).filter((l) => l.trim() !== '')) {
    const src = srcVocab.encode(line.trim());
    const srcTokens = srcVocab.tokenStrings(src);
    if (src.length === 0) {
      out.push(`${line}: no tokens`);
      continue;
    }
    const unknown = srcVocab.unk === undefined ? 0 : src.filter((id) => id === srcVocab.unk).length;
    const r = beam > 0 ? beamSearch(dec, src, { width: beam, alpha }) : greedyDecode(dec, src);
    const outTokens = [...tgtVocab.tokenStrings(r.tokens), ...(r.finished ? ['</s>'] : [])];
    out.push(`${line} -> ${tgtVocab.decode(r.tokens)}${r.finished ? '' : '  (no EOS within the length limit)'}${unknown ? `  (${unknown} source token${unknown > 1 ? 's' : ''} unknown: <unk>)` : ''}`);
    if (r.attention.length) out.push(attentionTable(srcTokens, outTokens, r.attention));
  }
  return out.join('\n');
}

/** The seq2seq lines of `rnn-lab report`. */
export async function seq2seqReportLines(run: RunDir, config: RunConfig): Promise<string[]> {
  const lines: string[] = [];
  const evals = await readRecords<Seq2SeqEvalRecord>(run, runFiles.eval);
  lines.push(`seq2seq: task ${config.task}${config.task === 'seq2seq' ? ` (${config.data}, ${config.tokenization} tokens)` : ` (lengths ${config.srcLen})`}, attention ${config.attention}, teacher forcing ${config.teacherForcing}`);
  const summaryText = await readText(run.fs, runPath(run.id, runFiles.summary));
  let summary: RunSummary | undefined;
  try {
    const parsed = summaryText === undefined ? undefined : parseJson(summaryText, runFiles.summary, 'bad-config', '');
    summary = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as RunSummary) : undefined;
  } catch {
    // A damaged summary.json: the report goes on from the evaluation records.
  }
  const e = evals.at(-1);
  if (!e) {
    lines.push('no held-out evaluation yet');
    return lines;
  }
  lines.push(`held-out at step ${e.step} (${e.examples} examples, greedy): exact match ${(100 * e.exactMatch).toFixed(1)}%, token accuracy ${(100 * e.tokenAccuracy).toFixed(1)}%`);
  if (e.bleu !== undefined) lines.push(`BLEU-4 ${(100 * e.bleu).toFixed(2)} (${e.bleuRecipe})`);
  if (e.alignmentAccuracy !== undefined) lines.push(`alignment accuracy ${(100 * e.alignmentAccuracy).toFixed(1)}% (attention argmax on a known aligned source position)`);
  if (e.byLength.length) lines.push(`by source length: ${e.byLength.map((b) => `${b.lo === b.hi ? b.lo : `${b.lo}-${b.hi}`}: ${(100 * b.exactMatch).toFixed(0)}%`).join(', ')}`);
  const best = evals.reduce((a, b) => (b.exactMatch > a.exactMatch ? b : a));
  if (best !== e) lines.push(`best exact match ${(100 * best.exactMatch).toFixed(1)}% at step ${best.step}`);
  if (summary?.exactMatch !== undefined && summary.exactMatch !== e.exactMatch) lines.push(`summary.json exact match ${(100 * summary.exactMatch).toFixed(1)}%`);
  return lines;
}

/** export of a seq2seq run: its state_dict (the oracle-s2s names) in f64 or f32, and how to load it. */
export async function exportSeq2Seq(bytes: Uint8Array, ckptPath: string, out: string, dtype: 'F64' | 'F32', mode: 'replace' | 'new'): Promise<string[]> {
  const { model, config } = loadSeq2SeqCheckpoint(bytes, ckptPath);
  const p = model.params;
  const { metadata } = decodeSafetensors(bytes, ckptPath);
  const tensors = p.tensors.map((t) => ({ name: t.name, shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) }));
  writeFileAtomic(out, encodeSafetensors(tensors, { ...metadata, format: SEQ2SEQ_CHECKPOINT_FORMAT }, dtype), mode);
  const s = model.spec;
  return [
    `wrote ${out} (${dtype === 'F64' ? 'f64' : 'f32'}): the state_dict of the Seq2Seq module in ../shared/oracle-s2s/README.md ("PyTorch mapping") with`,
    `  c = {"cell": "${s.cell}", "embed": ${s.embed}, "hidden": ${s.hidden}, "layers": ${s.layers}, "attention": "${s.attention}", "attention_size": ${s.attention === 'additive' ? s.attentionSize : 'None'}, "V_src": ${s.srcVocab}, "V_tgt": ${s.tgtVocab}}`,
    '  from safetensors.torch import load_file',
    `  model = Seq2Seq(c); model.load_state_dict(load_file(${JSON.stringify(out)}))`,
    ...(config.cell === 'gru' && config.gruVariant === 'reset_before' ? ['warning: reset_before GRU cells compute another function in torch.nn.GRU'] : []),
  ];
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
