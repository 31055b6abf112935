/**
 * The user's own sentence pairs: a TSV with `source<TAB>target` per line (further columns ignored:
 * the Tatoeba format) or a CSV with two chosen columns (RFC 4180: quoted fields may hold commas,
 * doubled quotes and newlines). Lines that cannot be used (no tab, an empty side, over the length
 * cap, too few columns, blank) are counted and reported with their line numbers; a file with no
 * usable pair is one EngineError. Pairs are split, seeded, into training and held-out sets by
 * source text, so no source sentence is in both; the vocabularies come from the training pairs
 * only, with `<unk>` for the rest.
 */
import { EngineError } from '../errors';
import { Rng } from '../random';
import { Vocab, tokenize, type Tokenization } from './vocab';

export interface PairOptions {
  /** 'tsv' (default) or 'csv'. */
  format?: 'tsv' | 'csv';
  /** CSV: the source and target columns, by header name or 0-based index. Default 0 and 1. */
  sourceColumn?: string | number;
  targetColumn?: string | number;
  /** CSV: whether the first record is a header. Default: true when a column is chosen by name, else false. */
  header?: boolean;
  /** Default 'word'. */
  tokenization?: Tokenization;
  /** A pair with more tokens than this on either side is a bad line. Default 50. */
  maxLen?: number;
  /** Vocabulary sizes, specials and `<unk>` included. Default 10000 each. */
  maxSrcVocab?: number;
  maxTgtVocab?: number;
  /** Share of the distinct sources held out, rounded, at least 1 when there are two or more. Default 0.1. */
  heldOutFraction?: number;
  seed?: number;
}

/** The default cap on tokens a side of a pair (readPairs's maxLen). */
export const PAIRS_MAX_LEN = 50;

export interface BadLine {
  line: number;
  reason: string;
}

/** A pair as read: trimmed text and the 1-based line it starts on. */
export interface RawPair {
  source: string;
  target: string;
  line: number;
}

export interface PairExample {
  src: number[];
  tgt: number[];
  source: string;
  target: string;
  /** The target's tokens as written (BLEU's reference: a token outside the vocabulary stays itself, not `<unk>`). */
  tgtTokens: string[];
  line: number;
}

export interface PairDataset {
  srcVocab: Vocab;
  tgtVocab: Vocab;
  train: PairExample[];
  heldOut: PairExample[];
  /** Every line that gave no pair, in file order. */
  bad: BadLine[];
  /** One line naming the bad lines (the first few, then "and N more"), or undefined if there are none. */
  badReport: string | undefined;
  /** Lines (TSV) or records (CSV) read, header excluded. */
  records: number;
}

const SHOWN = 5;

/** The format a pairs file's name implies: .csv is CSV, anything else TSV. */
export function pairFormatOf(file: string): 'tsv' | 'csv' {
  return /\.csv$/i.test(file) ? 'csv' : 'tsv';
}

/** "f: 3 of 120 lines skipped: line 4 (no tab), ... and 1 more". */
export function describeBadLines(file: string, bad: readonly BadLine[], records: number, shown = SHOWN): string {
  const list = bad.slice(0, shown).map((b) => `line ${b.line} (${b.reason})`).join(', ');
  const more = bad.length > shown ? `, and ${bad.length - shown} more` : '';
  return `${file}: ${bad.length} of ${records} lines skipped: ${list}${more}`;
}

/** Lines of a text: BOM dropped, CRLF or LF; a final newline ends the last line rather than starting one. */
function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** TSV pairs: column 1 the source, column 2 the target, the rest ignored. */
export function parseTsvPairs(text: string): { pairs: RawPair[]; bad: BadLine[]; records: number } {
  const pairs: RawPair[] = [];
  const bad: BadLine[] = [];
  const lines = splitLines(text);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return bad.push({ line, reason: 'blank' });
    const cells = raw.split('\t');
    if (cells.length < 2) return bad.push({ line, reason: 'no tab' });
    pairs.push({ source: cells[0].trim(), target: cells[1].trim(), line });
  });
  return { pairs, bad, records: lines.length };
}

/**
 * RFC 4180 records: comma-separated fields; a field that starts with a quote runs to the matching
 * quote, with "" for a quote inside, and may span lines. A quote inside an unquoted field is
 * literal. Each record carries the 1-based line it starts on.
 */
export function parseCsvRecords(text: string, file: string): { cells: string[]; line: number }[] {
  const s = text.replace(/^\uFEFF/, '');
  const records: { cells: string[]; line: number }[] = [];
  let line = 1;
  let i = 0;
  while (i < s.length) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      let cell = '';
      if (s[i] === '"') {
        const open = line;
        i++;
        for (;;) {
          if (i >= s.length) throw new EngineError('bad-csv', `${file} line ${open} opens a quoted field that is never closed`, 'Close the quote (write "" for a quote inside a quoted field).');
          const c = s[i];
          if (c === '"') {
            if (s[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          cell += c;
          i++;
        }
        // Text between the closing quote and the next separator is kept, as spreadsheets do.
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') cell += s[i++];
      } else {
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') cell += s[i++];
      }
      cells.push(cell);
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '\r') i++;
      if (s[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    records.push({ cells, line: start });
  }
  return records;
}

function columnIndex(file: string, which: string, col: string | number, header: string[] | undefined): number {
  if (typeof col === 'number') {
    if (!Number.isInteger(col) || col < 0) throw new EngineError('bad-config', `the ${which} column ${col} is not a 0-based column index`, 'Give a column number from 0, or a header name.');
    return col;
  }
  const k = header ? header.indexOf(col) : -1;
  if (k < 0) {
    const names = header ? header.map((h) => JSON.stringify(h)).join(', ').slice(0, 150) : 'none: the file was read without a header';
    throw new EngineError('bad-csv', `${file} has no column ${JSON.stringify(col)} for the ${which} (columns: ${names})`, 'Pick one of the listed columns, or a 0-based index.');
  }
  return k;
}

/** CSV pairs from two columns. */
export function parseCsvPairs(text: string, file: string, opts: Pick<PairOptions, 'sourceColumn' | 'targetColumn' | 'header'> = {}): { pairs: RawPair[]; bad: BadLine[]; records: number } {
  const srcCol = opts.sourceColumn ?? 0;
  const tgtCol = opts.targetColumn ?? 1;
  const hasHeader = opts.header ?? (typeof srcCol === 'string' || typeof tgtCol === 'string');
  const records = parseCsvRecords(text, file);
  const header = hasHeader ? records.shift()?.cells.map((h) => h.trim()) : undefined;
  const si = columnIndex(file, 'source', srcCol, header);
  const ti = columnIndex(file, 'target', tgtCol, header);
  const pairs: RawPair[] = [];
  const bad: BadLine[] = [];
  for (const { cells, line } of records) {
    if (cells.length === 1 && cells[0].trim() === '') bad.push({ line, reason: 'blank' });
    else if (cells.length <= Math.max(si, ti)) bad.push({ line, reason: `${cells.length} column${cells.length === 1 ? '' : 's'}, needs ${Math.max(si, ti) + 1}` });
    else pairs.push({ source: cells[si].trim(), target: cells[ti].trim(), line });
  }
  return { pairs, bad, records: records.length };
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new EngineError('bad-config', `${name} is ${v}, not a whole number >= 1`, `Set ${name} to a positive whole number.`);
  return v;
}

/**
 * Reads a pairs file's text into a tokenized, split dataset. `file` names it in messages.
 * Throws one EngineError when no pair is usable.
 */
export function readPairs(text: string, file: string, opts: PairOptions = {}): PairDataset {
  const tokenization = opts.tokenization ?? 'word';
  const maxLen = positiveInt('maxLen', opts.maxLen ?? PAIRS_MAX_LEN);
  const maxSrcVocab = positiveInt('maxSrcVocab', opts.maxSrcVocab ?? 10000);
  const maxTgtVocab = positiveInt('maxTgtVocab', opts.maxTgtVocab ?? 10000);
  const fraction = opts.heldOutFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) throw new EngineError('bad-config', `heldOutFraction is ${fraction}, not in [0, 1)`, 'Set it to a share such as 0.1.');

  const parsed = opts.format === 'csv' ? parseCsvPairs(text, file, opts) : parseTsvPairs(text);
  const bad = [...parsed.bad];
  const good: { pair: RawPair; srcTokens: string[]; tgtTokens: string[] }[] = [];
  for (const pair of parsed.pairs) {
    const srcTokens = tokenize(pair.source, tokenization);
    const tgtTokens = tokenize(pair.target, tokenization);
    const reason =
      srcTokens.length === 0 ? 'empty source'
      : tgtTokens.length === 0 ? 'empty target'
      : srcTokens.length > maxLen ? `source has ${srcTokens.length} tokens, over the cap of ${maxLen}`
      : tgtTokens.length > maxLen ? `target has ${tgtTokens.length} tokens, over the cap of ${maxLen}`
      : undefined;
    if (reason) bad.push({ line: pair.line, reason });
    else good.push({ pair, srcTokens, tgtTokens });
  }
  bad.sort((a, b) => a.line - b.line);

  if (good.length === 0) {
    const why = parsed.records === 0 ? 'it is empty' : `all ${parsed.records} lines were skipped (${bad.slice(0, 2).map((b) => `line ${b.line}: ${b.reason}`).join('; ')}${bad.length > 2 ? '; ...' : ''})`;
    const how = opts.format === 'csv' ? 'Pick the source and target columns (by name or 0-based index) of a CSV with text in both.' : `Write one pair per line as source<TAB>target, at most ${maxLen} tokens a side.`;
    throw new EngineError('too-short', `${file} has no usable source/target pair: ${why}`, how);
  }

  // Split by distinct source, seeded: a source and all its translations go to one side.
  const groups = new Map<string, typeof good>();
  for (const g of good) {
    const list = groups.get(g.pair.source);
    if (list) list.push(g);
    else groups.set(g.pair.source, [g]);
  }
  const keys = [...groups.keys()];
  const rng = new Rng(opts.seed ?? 1);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  const nHeld = keys.length < 2 ? 0 : Math.min(keys.length - 1, Math.max(fraction > 0 ? 1 : 0, Math.round(fraction * keys.length)));
  const heldKeys = new Set(keys.slice(0, nHeld));
  const trainRaw = good.filter((g) => !heldKeys.has(g.pair.source));
  const heldRaw = good.filter((g) => heldKeys.has(g.pair.source));

  const srcVocab = Vocab.fromSequences(trainRaw.map((g) => g.srcTokens), tokenization, { maxSize: maxSrcVocab });
  const tgtVocab = Vocab.fromSequences(trainRaw.map((g) => g.tgtTokens), tokenization, { maxSize: maxTgtVocab });
  const toExample = (g: (typeof good)[number]): PairExample => ({
    src: srcVocab.encodeTokens(g.srcTokens),
    tgt: tgtVocab.encodeTokens(g.tgtTokens),
    source: g.pair.source,
    target: g.pair.target,
    tgtTokens: g.tgtTokens,
    line: g.pair.line,
  });
  return {
    srcVocab,
    tgtVocab,
    train: trainRaw.map(toExample),
    heldOut: heldRaw.map(toExample),
    bad,
    badReport: bad.length ? describeBadLines(file, bad, parsed.records) : undefined,
    records: parsed.records,
  };
}
