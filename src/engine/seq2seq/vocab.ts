/**
 * Token vocabularies of the seq2seq models. Special ids are fixed (the oracle-s2s spec): PAD = 0,
 * BOS = 1, EOS = 2, the same in the source and the target vocabulary. A vocabulary built from user
 * text has `<unk>` = 3, so any token outside it still encodes; a generated task knows its whole
 * alphabet and has no `<unk>`. Real tokens follow, id = position in `tokens`.
 */
import { EngineError } from '../errors';

export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
export const UNK = 3;

export type Tokenization = 'char' | 'word';

/** What a checkpoint's metadata stores: enough to rebuild the vocabulary exactly. */
export interface VocabJSON {
  format: 'rnn-lab-vocab/1';
  tokenization: Tokenization;
  /** Every id's string, specials included: tokens[0] = '<pad>', [1] = '<bos>', [2] = '<eos>'. */
  tokens: string[];
  /** Whether tokens[3] is '<unk>'. */
  unk: boolean;
}

const SPECIALS = ['<pad>', '<bos>', '<eos>'];
const UNK_TOKEN = '<unk>';

/**
 * Word tokens: a run of letters/marks/digits (with inner apostrophes, as in "don't"), or one
 * punctuation or symbol character; whitespace separates and is dropped. So "Go away!" -> Go, away, !.
 */
const WORD_RE = /[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*|[^\s]/gu;

/** Splits text into tokens: Unicode code points for 'char' (whitespace kept), words for 'word'. */
export function tokenize(text: string, tokenization: Tokenization): string[] {
  return tokenization === 'char' ? Array.from(text) : (text.match(WORD_RE) ?? []);
}

/** The tokens of tokenize(text) with the UTF-16 offset of each in `text`. */
export function tokenSpans(text: string, tokenization: Tokenization): { text: string; offset: number }[] {
  if (tokenization === 'word') return Array.from(text.matchAll(WORD_RE), (m) => ({ text: m[0], offset: m.index! }));
  const spans: { text: string; offset: number }[] = [];
  let offset = 0;
  for (const ch of text) {
    spans.push({ text: ch, offset });
    offset += ch.length;
  }
  return spans;
}

/** Joins tokens back: characters concatenate, words join with one space. */
export function detokenize(tokens: readonly string[], tokenization: Tokenization): string {
  return tokens.join(tokenization === 'char' ? '' : ' ');
}

export class Vocab {
  /** Every id's string, specials included. */
  readonly tokens: readonly string[];
  readonly size: number;
  /** The id of '<unk>', or undefined for a closed vocabulary (generated tasks). */
  readonly unk: number | undefined;
  private readonly ids: Map<string, number>;

  /** `realTokens` are the tokens without the specials, in id order from 3 (or 4 with `<unk>`). */
  constructor(
    readonly tokenization: Tokenization,
    realTokens: readonly string[],
    withUnk: boolean,
  ) {
    this.unk = withUnk ? UNK : undefined;
    this.tokens = [...SPECIALS, ...(withUnk ? [UNK_TOKEN] : []), ...realTokens];
    this.ids = new Map();
    this.tokens.forEach((t, i) => {
      if (i >= this.firstReal && this.ids.has(t)) throw new EngineError('bad-config', `the vocabulary lists the token ${JSON.stringify(t)} twice`, 'List each token once.');
      if (i >= this.firstReal) this.ids.set(t, i);
    });
    this.size = this.tokens.length;
  }

  /** The first id of a real token: 3, or 4 with `<unk>`. */
  get firstReal(): number {
    return this.unk === undefined ? 3 : 4;
  }

  /** The id of a token; `<unk>` if unknown, or undefined if the vocabulary has no `<unk>`. */
  id(token: string): number | undefined {
    return this.ids.get(token) ?? this.unk;
  }

  has(token: string): boolean {
    return this.ids.has(token);
  }

  /** Token strings to ids. A token outside a closed vocabulary is an error naming it. */
  encodeTokens(tokens: readonly string[]): number[] {
    return tokens.map((t) => {
      const id = this.id(t);
      if (id === undefined) throw new EngineError('bad-config', `the token ${JSON.stringify(t)} is not in the vocabulary`, 'Use only tokens of the task\'s alphabet.');
      return id;
    });
  }

  /** Text to ids (no BOS/EOS added). */
  encode(text: string): number[] {
    return this.encodeTokens(tokenize(text, this.tokenization));
  }

  /** Ids to token strings; decoding stops at nothing: PAD/BOS/EOS show as their names. */
  tokenStrings(ids: readonly number[]): string[] {
    return ids.map((i) => this.tokens[i] ?? UNK_TOKEN);
  }

  /** Ids to text, dropping PAD and BOS and stopping at the first EOS. */
  decode(ids: readonly number[]): string {
    const out: string[] = [];
    for (const i of ids) {
      if (i === EOS) break;
      if (i === PAD || i === BOS) continue;
      out.push(this.tokens[i] ?? UNK_TOKEN);
    }
    return detokenize(out, this.tokenization);
  }

  toJSON(): VocabJSON {
    return { format: 'rnn-lab-vocab/1', tokenization: this.tokenization, tokens: [...this.tokens], unk: this.unk !== undefined };
  }

  static fromJSON(json: unknown): Vocab {
    const j = json as Partial<VocabJSON> | null;
    const bad = (what: string): never => {
      throw new EngineError('bad-checkpoint', `the checkpoint's vocabulary ${what}`, 'Use a checkpoint written by RNN Lab, or retrain.');
    };
    if (!j || typeof j !== 'object' || j.format !== 'rnn-lab-vocab/1') return bad('is missing or not in the format rnn-lab-vocab/1');
    if (j.tokenization !== 'char' && j.tokenization !== 'word') return bad(`has tokenization ${JSON.stringify(j.tokenization)}, not "char" or "word"`);
    if (!Array.isArray(j.tokens) || !j.tokens.every((t) => typeof t === 'string')) return bad('has no list of token strings');
    const first = j.unk ? 4 : 3;
    const head = [...SPECIALS, ...(j.unk ? [UNK_TOKEN] : [])];
    if (j.tokens.length < first || head.some((t, i) => j.tokens![i] !== t)) return bad(`does not start with ${head.join(', ')}`);
    if (new Set(j.tokens).size !== j.tokens.length) return bad('lists a token twice');
    return new Vocab(j.tokenization, j.tokens.slice(first), !!j.unk);
  }

  /**
   * A vocabulary from token sequences: the `maxSize - specials` most frequent tokens (all of them
   * without a cap), ordered by count, most frequent first, ties by code-unit order of the token, so
   * the result depends on the multiset of tokens, not on the order of the lines. `maxSize` counts
   * the specials and `<unk>`.
   */
  static fromSequences(sequences: Iterable<readonly string[]>, tokenization: Tokenization, opts: { maxSize?: number; withUnk?: boolean } = {}): Vocab {
    const withUnk = opts.withUnk ?? true;
    const counts = new Map<string, number>();
    for (const seq of sequences) for (const t of seq) counts.set(t, (counts.get(t) ?? 0) + 1);
    const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([t]) => t);
    const room = opts.maxSize === undefined ? ranked.length : Math.max(0, opts.maxSize - (withUnk ? 4 : 3));
    return new Vocab(tokenization, ranked.slice(0, room), withUnk);
  }
}
