/**
 * Generated seq2seq tasks, seeded, each example with its known alignment.
 *
 * The rule (src/cli/bench/torch_seq2seq.py draws `reverse` and `copy` by the same rule with its own PRNG):
 * - `reverse`, `copy`, `sort`: a source has a length n uniform in [lo, hi] (srcLen) and n tokens
 *   uniform over the alphabet; the target is the source reversed, the source itself, or the source
 *   sorted in alphabet order.
 * - `addition`: "a+b" -> the decimal sum, with a and b of a digit count uniform in srcLen each (no
 *   leading zeros); srcLen counts the digits of one operand.
 * - `date`: a day uniform over 1950-01-01 ... 2049-12-31, written in one of DATE_FORMATS (uniform),
 *   -> ISO "YYYY-MM-DD". Two-digit years read 50-99 as 19xx and 00-49 as 20xx, which is exact on
 *   that range.
 * The held-out set is the first `heldOutSize` distinct keys the held-out stream yields; the key is
 * the source text (the date itself for `date`, so a held-out day is never trained in any format).
 * The training stream draws from an independent stream and rejects any example whose key is held
 * out, so it never yields a held-out example. Every token is one character.
 *
 * Alignment: for each target position t (EOS excluded), the source positions the decoder should
 * attend to when it emits target[t], or [] where none is defined. reverse: [n-1-t]; copy: [t];
 * sort: every position holding the emitted token; addition: the digits of both operands at the
 * emitted digit's place value (a final carry has none); date: the source characters of the field
 * the output character comes from (a digit: its own source digit; a month name: all its letters;
 * century digits of a two-digit year, a padding zero the source lacks, the dashes: none).
 */
import { EngineError } from '../errors';
import { Rng } from '../random';
import { Vocab } from './vocab';

export type TaskKind = 'reverse' | 'copy' | 'sort' | 'date' | 'addition';
export const TASK_KINDS: readonly TaskKind[] = ['reverse', 'copy', 'sort', 'date', 'addition'];

export interface TaskOptions {
  /** Inclusive source length range (addition: digits per operand; date: ignored). Default [5, 10], addition [1, 5]. */
  srcLen?: readonly [number, number];
  /** 'digits' (0-9), 'letters' (a-z), or the alphabet itself as a string of distinct characters. Default 'digits'. */
  alphabet?: string;
  seed?: number;
  /** Size of the fixed training set `train` (the first draws of `sampler()`). Default 10000. */
  trainSize?: number;
  /** Size of the held-out set. Default 1000. */
  heldOutSize?: number;
}

/** One example: ids (no BOS/EOS; the decoder's target is `tgt` then EOS) and what they say. */
export interface Example {
  src: number[];
  tgt: number[];
  source: string;
  target: string;
  /** alignment[t] (t < tgt.length): source positions to attend to when emitting tgt[t]; [] = none. */
  alignment: number[][];
}

/** An endless seeded stream of training examples; never yields a held-out one. */
export interface TrainingSampler {
  next(): Example;
  batch(n: number): Example[];
  /** The PRNG state: restore it with setState to continue the stream exactly (resume). */
  getState(): number[];
  setState(state: readonly number[]): void;
}

export interface Task {
  kind: TaskKind;
  srcLen: [number, number];
  alphabet: string;
  seed: number;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  train: Example[];
  heldOut: Example[];
  /** A fresh training stream from the start; `train` is its first trainSize draws. */
  sampler(): TrainingSampler;
  /** True when the example's key is in the held-out set. */
  isHeldOut(ex: Pick<Example, 'source' | 'target'>): boolean;
}

/** An example as text, with its alignment and its held-out key. */
export interface Raw {
  source: string;
  target: string;
  alignment: number[][];
  key: string;
}

const ALPHABETS: Record<string, string> = { digits: '0123456789', letters: 'abcdefghijklmnopqrstuvwxyz' };

/** The two streams of one seed: held-out (1) and training (2), decorrelated by a multiplicative hash. */
function streamSeed(seed: number, stream: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream, 0x85ebca6b)) >>> 0;
}

function badOption(what: string, hint: string): never {
  throw new EngineError('bad-config', what, hint);
}

function uniformLength(rng: Rng, [lo, hi]: readonly [number, number]): number {
  return lo + rng.int(hi - lo + 1);
}

function drawString(rng: Rng, alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function drawSequenceTask(kind: 'reverse' | 'copy' | 'sort', alphabet: string, srcLen: readonly [number, number], rng: Rng): Raw {
  const source = drawString(rng, alphabet, uniformLength(rng, srcLen));
  const n = source.length;
  if (kind === 'reverse') return { source, target: [...source].reverse().join(''), alignment: [...source].map((_, t) => [n - 1 - t]), key: source };
  if (kind === 'copy') return { source, target: source, alignment: [...source].map((_, t) => [t]), key: source };
  const target = [...source].sort((a, b) => alphabet.indexOf(a) - alphabet.indexOf(b)).join('');
  const where = (ch: string): number[] => [...source].flatMap((c, s) => (c === ch ? [s] : []));
  return { source, target, alignment: [...target].map(where), key: source };
}

function drawOperand(rng: Rng, srcLen: readonly [number, number]): string {
  const n = uniformLength(rng, srcLen);
  if (n === 1) return String(rng.int(10));
  return String(1 + rng.int(9)) + drawString(rng, ALPHABETS.digits, n - 1);
}

/** Decimal addition of digit strings (no size limit). */
function addDecimal(a: string, b: string): string {
  let out = '';
  let carry = 0;
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    const d = (k < a.length ? +a[a.length - 1 - k] : 0) + (k < b.length ? +b[b.length - 1 - k] : 0) + carry;
    out = String(d % 10) + out;
    carry = d >= 10 ? 1 : 0;
  }
  return carry ? '1' + out : out;
}

function drawAddition(srcLen: readonly [number, number], rng: Rng): Raw {
  const a = drawOperand(rng, srcLen);
  return additionExample(a, drawOperand(rng, srcLen));
}

/** "a+b" -> the sum, each sum digit aligned to the operand digits of its place value. */
export function additionExample(a: string, b: string): Raw {
  const source = `${a}+${b}`;
  const target = addDecimal(a, b);
  const alignment = [...target].map((_, t) => {
    const place = target.length - 1 - t;
    const at: number[] = [];
    if (place < a.length) at.push(a.length - 1 - place);
    if (place < b.length) at.push(a.length + 1 + b.length - 1 - place);
    return at;
  });
  return { source, target, alignment, key: source };
}

// ---- dates ----

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const FIRST_DAY = Date.UTC(1950, 0, 1) / 86400000;
const LAST_DAY = Date.UTC(2049, 11, 31) / 86400000;

export interface Day {
  y: number;
  m: number; // 1-12
  d: number; // 1-31
  weekday: number; // 0 = Sunday
}

/** A piece of a formatted date: literal text, or a field in a style. */
type Piece =
  | string
  | { f: 'Y4' | 'Y2' | 'M2' | 'M1' | 'D2' | 'D1' | 'Mon' | 'MON' | 'Month' | 'Dth' | 'Wkd' | 'Weekday' };

const p = (f: Exclude<Piece, string>['f']): Piece => ({ f });

/** The input formats of the `date` task; the target is always ISO YYYY-MM-DD. */
export const DATE_FORMATS: readonly (readonly Piece[])[] = [
  [p('D2'), p('MON'), p('Y4')], // 23JAN2015
  [p('M2'), '/', p('D2'), '/', p('Y2')], // 01/23/15
  [p('MON'), ' ', p('D2'), ', ', p('Y4')], // JAN 23, 2015
  [p('Y4'), '.', p('M1'), '.', p('D1')], // 2015.1.23
  [p('D1'), ' ', p('Month'), ' ', p('Y4')], // 23 January 2015
  [p('Weekday'), ', ', p('Month'), ' ', p('D1'), ', ', p('Y4')], // Friday, January 23, 2015
  [p('Y4'), '-', p('M2'), '-', p('D2')], // 2015-01-23
  [p('D2'), '.', p('M2'), '.', p('Y4')], // 23.01.2015
  [p('D2'), '/', p('M2'), '/', p('Y4')], // 23/01/2015
  [p('M2'), '/', p('D2'), '/', p('Y4')], // 01/23/2015
  [p('Y4'), p('M2'), p('D2')], // 20150123
  [p('Month'), ' ', p('D1'), ', ', p('Y4')], // January 23, 2015
  [p('Mon'), ' ', p('D1'), ' ', p('Y4')], // Jan 23 2015
  [p('D2'), '-', p('Mon'), '-', p('Y4')], // 23-Jan-2015
  [p('D1'), ' ', p('Mon'), ' ', p('Y2')], // 23 Jan 15
  [p('Y4'), '/', p('M2'), '/', p('D2')], // 2015/01/23
  [p('M1'), '/', p('D1'), '/', p('Y4')], // 1/23/2015
  [p('D2'), '-', p('M2'), '-', p('Y4')], // 23-01-2015
  [p('Wkd'), ' ', p('D1'), ' ', p('Mon'), ' ', p('Y4')], // Fri 23 Jan 2015
  [p('Month'), ' ', p('Dth'), ', ', p('Y4')], // January 23rd, 2015
];

function ordinal(d: number): string {
  if (d % 100 >= 11 && d % 100 <= 13) return `${d}th`;
  return `${d}${['th', 'st', 'nd', 'rd'][d % 10] ?? 'th'}`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function fieldText(piece: Exclude<Piece, string>, day: Day): string {
  switch (piece.f) {
    case 'Y4': return String(day.y);
    case 'Y2': return pad2(day.y % 100);
    case 'M2': return pad2(day.m);
    case 'M1': return String(day.m);
    case 'D2': return pad2(day.d);
    case 'D1': return String(day.d);
    case 'Mon': return MONTHS[day.m - 1].slice(0, 3);
    case 'MON': return MONTHS[day.m - 1].slice(0, 3).toUpperCase();
    case 'Month': return MONTHS[day.m - 1];
    case 'Dth': return ordinal(day.d);
    case 'Wkd': return WEEKDAYS[day.weekday].slice(0, 3);
    case 'Weekday': return WEEKDAYS[day.weekday];
  }
}

/**
 * The alignment of two ISO digits (tens, units) to a numeric field written at `start` with `text`:
 * digit by digit from the right, so a missing tens digit (unpadded) or century has none.
 */
function alignDigits(start: number, digits: string, width: number): number[][] {
  const out: number[][] = [];
  for (let k = width - 1; k >= 0; k--) out.push(k < digits.length ? [start + digits.length - 1 - k] : []);
  return out;
}

/** Formats `day` with `format` and aligns each ISO target character to the source. */
export function formatDate(day: Day, format: readonly Piece[]): Raw {
  let source = '';
  const align: Record<'Y' | 'M' | 'D', number[][]> = { Y: [[], [], [], []], M: [[], []], D: [[], []] };
  for (const piece of format) {
    if (typeof piece === 'string') {
      source += piece;
      continue;
    }
    const text = fieldText(piece, day);
    const start = source.length;
    const all = [...text].map((_, i) => start + i);
    switch (piece.f) {
      case 'Y4': case 'Y2': align.Y = alignDigits(start, text, 4); break;
      case 'M2': case 'M1': align.M = alignDigits(start, text, 2); break;
      case 'D2': case 'D1': align.D = alignDigits(start, text, 2); break;
      case 'Dth': align.D = alignDigits(start, String(day.d), 2); break;
      case 'Mon': case 'MON': case 'Month': align.M = [all, all]; break;
      case 'Wkd': case 'Weekday': break;
    }
    source += text;
  }
  const target = `${day.y}-${pad2(day.m)}-${pad2(day.d)}`;
  return { source, target, alignment: [...align.Y, [], ...align.M, [], ...align.D], key: target };
}

/** The calendar day `dayNumber` days after 1970-01-01 (UTC). */
export function dayOf(dayNumber: number): Day {
  const dt = new Date(dayNumber * 86400000);
  return { y: dt.getUTCFullYear(), m: dt.getUTCMonth() + 1, d: dt.getUTCDate(), weekday: dt.getUTCDay() };
}

function drawDate(rng: Rng): Raw {
  const day = dayOf(FIRST_DAY + rng.int(LAST_DAY - FIRST_DAY + 1));
  return formatDate(day, DATE_FORMATS[rng.int(DATE_FORMATS.length)]);
}

/** Every character a formatted date can hold, in code-point order: the source vocabulary of `date`. */
function dateCharset(): string[] {
  const names = [...MONTHS, ...MONTHS.map((m) => m.slice(0, 3).toUpperCase()), ...WEEKDAYS, 'stndrdth'];
  const literals = DATE_FORMATS.flat().filter((x): x is string => typeof x === 'string');
  return [...new Set([...'0123456789', ...names.join(''), ...literals.join('')])].sort();
}

// ---- the task ----

function resolveAlphabet(alphabet: string): string {
  const a = ALPHABETS[alphabet] ?? alphabet;
  const chars = [...a];
  if (chars.length < 2 || new Set(chars).size !== chars.length || chars.some((c) => /\s/u.test(c)))
    badOption(`the alphabet ${JSON.stringify(alphabet)} is not "digits", "letters" or at least two distinct non-space characters`, 'Pick digits, letters, or write the characters once each.');
  return a;
}

function resolveSrcLen(kind: TaskKind, srcLen: readonly [number, number] | undefined): [number, number] {
  const [lo, hi] = srcLen ?? (kind === 'addition' ? [1, 5] : [5, 10]);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo || hi > 1000)
    badOption(`the source length range ${lo}-${hi} is not lo-hi with whole numbers 1 <= lo <= hi <= 1000`, 'Write it like 5-10.');
  return [lo, hi];
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) badOption(`${name} is ${v}, not a whole number >= 0`, `Set ${name} to a count such as 1000.`);
  return v;
}

/** Generates a task: vocabularies, a held-out set, a fixed training set and a training stream. */
export function generateTask(kind: TaskKind, options: TaskOptions = {}): Task {
  if (!TASK_KINDS.includes(kind)) badOption(`the task ${JSON.stringify(kind)} is not one of ${TASK_KINDS.join(', ')}`, 'Pick one of those.');
  const srcLen = resolveSrcLen(kind, options.srcLen);
  const alphabet = resolveAlphabet(options.alphabet ?? 'digits');
  const seed = options.seed ?? 1;
  const trainSize = nonNegativeInt('trainSize', options.trainSize ?? 10000);
  const heldOutSize = nonNegativeInt('heldOutSize', options.heldOutSize ?? 1000);

  let srcChars: string[];
  let tgtChars: string[];
  let draw: (rng: Rng) => Raw;
  if (kind === 'date') {
    srcChars = dateCharset();
    tgtChars = [...'0123456789-'];
    draw = drawDate;
  } else if (kind === 'addition') {
    srcChars = [...'0123456789+'];
    tgtChars = [...'0123456789'];
    draw = (rng) => drawAddition(srcLen, rng);
  } else {
    srcChars = tgtChars = [...alphabet];
    draw = (rng) => drawSequenceTask(kind, alphabet, srcLen, rng);
  }
  const srcVocab = new Vocab('char', srcChars, false);
  const tgtVocab = new Vocab('char', tgtChars, false);
  const toExample = (r: Raw): Example => ({ src: srcVocab.encode(r.source), tgt: tgtVocab.encode(r.target), source: r.source, target: r.target, alignment: r.alignment });

  const what = kind === 'date' ? 'date task' : `${kind} task (lengths ${srcLen[0]}-${srcLen[1]}${kind === 'addition' ? ' digits' : `, alphabet ${alphabet}`})`;
  const held = new Set<string>();
  const heldOut: Example[] = [];
  const heldRng = new Rng(streamSeed(seed, 1));
  const maxTries = 50 * heldOutSize + 1000;
  for (let tries = 0; heldOut.length < heldOutSize; tries++) {
    if (tries >= maxTries)
      badOption(`the ${what} gave only ${heldOut.length} distinct examples in ${maxTries} draws, fewer than the ${heldOutSize} held out`, 'Lower heldOutSize or widen the length range.');
    const r = draw(heldRng);
    if (held.has(r.key)) continue;
    held.add(r.key);
    heldOut.push(toExample(r));
  }

  const keyOf = (ex: Pick<Example, 'source' | 'target'>): string => (kind === 'date' ? ex.target : ex.source);
  const sampler = (): TrainingSampler => {
    const rng = new Rng(streamSeed(seed, 2));
    const next = (): Example => {
      for (let rejected = 0; rejected < 10000; rejected++) {
        const r = draw(rng);
        if (!held.has(r.key)) return toExample(r);
      }
      return badOption(`the ${what} yields almost only held-out examples (10000 draws in a row were held out)`, 'Lower heldOutSize or widen the length range.');
    };
    return {
      next,
      batch: (n) => Array.from({ length: n }, next),
      getState: () => rng.getState(),
      setState: (s) => rng.setState(s),
    };
  };
  const fixed = sampler();
  const train = fixed.batch(trainSize);
  return { kind, srcLen, alphabet, seed, srcVocab, tgtVocab, train, heldOut, sampler, isHeldOut: (ex) => held.has(keyOf(ex)) };
}
