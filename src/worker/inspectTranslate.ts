/**
 * Translate Selection's work in the inspect worker: a seq2seq run's model on each line of a
 * selection, with where every source and output token sits in its line and the attention between
 * them. Each line is one source, trimmed as `rnn-lab translate` trims it, so both print the same
 * output for the same run; a blank line stays an empty result. A token the source vocabulary lacks
 * is fed as <unk> when the vocabulary has one (pairs runs), and left out with a warning when it has
 * none (generated tasks know their whole alphabet). A line longer than any source the run trained on
 * is translated anyway, with a warning: the model decodes any length, it has just never seen one.
 */
import { MAX_TRANSLATE_BEAM, type SourceToken, type TranslatedLine, type Translation } from '../protocol/inspectWorker';
import { parseSrcLen } from '../engine/config';
import { Seq2SeqStepDecoder } from '../engine/models/seq2seqDecoder';
import { beamSearch, greedyDecode } from '../engine/seq2seq/decoding';
import { PAIRS_MAX_LEN } from '../engine/seq2seq/pairs';
import { DATE_FORMATS, dayOf, formatDate } from '../engine/seq2seq/tasks';
import { tokenSpans, type Vocab } from '../engine/seq2seq/vocab';
import type { LoadedSeq2Seq } from '../engine/seq2seqCheckpoint';

/**
 * The source tokens of one line and the ids fed to the encoder: tokens at their UTF-16 offsets in
 * the untrimmed line; `column` is the token's position among the fed ids (-1: left out).
 */
export function sourceTokensOf(line: string, vocab: Vocab): { tokens: SourceToken[]; ids: number[] } {
  const trimmed = line.trim();
  const lead = line.length - line.trimStart().length;
  const ids: number[] = [];
  const tokens = tokenSpans(trimmed, vocab.tokenization).map(({ text, offset }): SourceToken => {
    const known = vocab.has(text);
    const id = known ? vocab.id(text)! : vocab.unk;
    const column = id === undefined ? -1 : ids.push(id) - 1;
    return { text, offset: lead + offset, length: text.length, known, column };
  });
  return { tokens, ids };
}

/** The longest source (in tokens) a run of this config trained on. */
export function sourceCapOf(loaded: Pick<LoadedSeq2Seq, 'config'>): number {
  const { task, srcLen } = loaded.config;
  if (task === 'seq2seq') return PAIRS_MAX_LEN;
  const hi = parseSrcLen(srcLen)[1];
  if (task === 'addition') return 2 * hi + 1; // "a+b" with operands of up to hi digits
  if (task === 'date') return dateSourceCap;
  return hi;
}

/** The longest date source: every format over a leap year's days (month and weekday names vary in length). */
const dateSourceCap = (() => {
  let cap = 0;
  const jan1 = Date.UTC(2012, 0, 1) / 86400000;
  for (let k = 0; k < 366; k++) for (const f of DATE_FORMATS) cap = Math.max(cap, formatDate(dayOf(jan1 + k), f).source.length);
  return cap;
})();

export function translateLines(loaded: LoadedSeq2Seq, lines: readonly string[], opts: { beam: number; alpha: number }): Translation {
  const { model, srcVocab, tgtVocab, config } = loaded;
  if (!(Number.isInteger(opts.beam) && opts.beam >= 0 && opts.beam <= MAX_TRANSLATE_BEAM)) throw new Error(`the beam width must be a whole number from 0 (greedy) to ${MAX_TRANSLATE_BEAM}, got ${opts.beam}`);
  if (!(opts.alpha >= 0 && opts.alpha <= 10)) throw new Error(`the length penalty alpha must be from 0 to 10, got ${opts.alpha}`);
  const dec = new Seq2SeqStepDecoder(model);
  const sourceCap = sourceCapOf(loaded);
  const joiner = tgtVocab.tokenization === 'char' ? '' : ' ';
  const translated = lines.map((line): TranslatedLine => {
    const { tokens, ids } = sourceTokensOf(line, srcVocab);
    const warnings: string[] = [];
    const unknown = tokens.filter((t) => !t.known);
    if (unknown.length) {
      const shown = [...new Set(unknown.map((t) => JSON.stringify(t.text)))].slice(0, 5).join(', ');
      warnings.push(`${unknown.length} source token${unknown.length > 1 ? 's' : ''} not in the run's vocabulary (${shown}): ${srcVocab.unk === undefined ? 'left out (this task has no <unk>)' : 'fed as <unk>'}`);
    }
    if (tokens.length > sourceCap) warnings.push(`${tokens.length} source tokens, over the ${sourceCap} the run trained on: translated anyway, expect errors`);
    if (ids.length === 0) {
      if (tokens.length) warnings.push('no token of this line is in the vocabulary: nothing to translate');
      return { source: tokens, output: [], text: '', finished: true, attention: [], warnings };
    }
    const r = opts.beam > 0 ? beamSearch(dec, ids, { width: opts.beam, alpha: opts.alpha }) : greedyDecode(dec, ids);
    const strings = tgtVocab.tokenStrings(r.tokens);
    let at = 0;
    const output = strings.map((text) => {
      const o = { text, offset: at, length: text.length };
      at += text.length + joiner.length;
      return o;
    });
    if (!r.finished) warnings.push('no </s> within the length limit: the output is cut there');
    return { source: tokens, output, text: tgtVocab.decode(r.tokens), finished: r.finished, attention: r.attention.slice(0, r.tokens.length).map((row) => Array.from(row)), warnings };
  });
  return { kind: 'translation', tokenization: tgtVocab.tokenization, attention: config.attention, beam: opts.beam, sourceCap, lines: translated };
}
