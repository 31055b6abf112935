/**
 * Seq2seq metrics over decoded outputs. Sequences are token ids or strings, without BOS and
 * without EOS (a decoder's output stops before its EOS; a reference is the target without EOS).
 */

export type Token = string | number;
type Seq = readonly Token[];

function sameSeq(a: Seq, b: Seq): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

function checkCounts(what: string, a: number, b: number): void {
  if (a !== b) throw new Error(`${what}: ${a} hypotheses but ${b} references`);
}

/** Share of hypotheses equal to their reference, whole sequence, length included. 0 for none. */
export function exactMatch(hyps: readonly Seq[], refs: readonly Seq[]): number {
  checkCounts('exactMatch', hyps.length, refs.length);
  if (!refs.length) return 0;
  return hyps.reduce((n, h, i) => n + (sameSeq(h, refs[i]) ? 1 : 0), 0) / refs.length;
}

/**
 * Token accuracy, the recipe: each reference r gets its end marker, so it has |r| + 1 positions
 * t = 0..|r| (the last one is EOS); position t is correct when the hypothesis followed by its end
 * marker has the same token there (hyp[t] === r[t] for t < |r|, and for t = |r| the hypothesis has
 * exactly |r| tokens, i.e. it stopped in time). Positions past |r| are not counted. The score is
 * correct positions / Σ (|r| + 1) over the corpus (micro average). A too-short hypothesis loses the
 * positions it lacks; a too-long one loses only the end position.
 */
export function tokenAccuracy(hyps: readonly Seq[], refs: readonly Seq[]): number {
  checkCounts('tokenAccuracy', hyps.length, refs.length);
  let correct = 0;
  let total = 0;
  hyps.forEach((h, i) => {
    const r = refs[i];
    for (let t = 0; t < r.length; t++) if (t < h.length && h[t] === r[t]) correct++;
    if (h.length === r.length) correct++;
    total += r.length + 1;
  });
  return total ? correct / total : 0;
}

export interface BleuResult {
  /** In [0, 1]; multiply by 100 for the usual scale. */
  bleu: number;
  /** Clipped n-gram precisions p_1..p_4 (matches / hypothesis n-grams; 0 when there are none). */
  precisions: [number, number, number, number];
  matches: [number, number, number, number];
  totals: [number, number, number, number];
  /** exp(1 − r/c) when 0 < c ≤ r; 1 when c > r or c = r = 0; 0 when c = 0 < r. */
  brevityPenalty: number;
  hypLength: number;
  refLength: number;
  /** The recipe to print beside the number. */
  recipe: string;
}

function ngramCounts(seq: Seq, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= seq.length; i++) {
    const key = seq.slice(i, i + n).map((t) => (typeof t === 'number' ? `#${t}` : `'${t}`)).join('\u0001');
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return m;
}

/**
 * Corpus-level BLEU-4 with one reference per hypothesis (Papineni et al. 2002): for n = 1..4,
 * p_n = Σ_sentences Σ_ngrams min(count_hyp, count_ref) / Σ_sentences (hypothesis n-grams);
 * BLEU = BP · exp(Σ_n ¼ log p_n), BP = exp(1 − r/c) if c ≤ r else 1, with c and r the summed
 * hypothesis and reference lengths. No smoothing: any p_n = 0 makes BLEU 0. Tokens are compared
 * as given, so the caller's tokenization is the recipe's `tokens` (sacrebleu's tokenize=none).
 */
export function corpusBleu(hyps: readonly Seq[], refs: readonly Seq[], tokens = 'words'): BleuResult {
  checkCounts('corpusBleu', hyps.length, refs.length);
  const matches: [number, number, number, number] = [0, 0, 0, 0];
  const totals: [number, number, number, number] = [0, 0, 0, 0];
  let c = 0;
  let r = 0;
  hyps.forEach((h, i) => {
    c += h.length;
    r += refs[i].length;
    for (let n = 1; n <= 4; n++) {
      const hc = ngramCounts(h, n);
      const rc = ngramCounts(refs[i], n);
      for (const [g, k] of hc) matches[n - 1] += Math.min(k, rc.get(g) ?? 0);
      totals[n - 1] += Math.max(0, h.length - n + 1);
    }
  });
  const precisions = matches.map((m, i) => (totals[i] ? m / totals[i] : 0)) as BleuResult['precisions'];
  const brevityPenalty = c === 0 ? (r === 0 ? 1 : 0) : c <= r ? Math.exp(1 - r / c) : 1;
  const bleu = precisions.some((p) => p === 0) ? 0 : brevityPenalty * Math.exp(precisions.reduce((s, p) => s + Math.log(p), 0) / 4);
  return { bleu, precisions, matches, totals, brevityPenalty, hypLength: c, refLength: r, recipe: `BLEU-4, corpus, uniform weights, no smoothing, tokens: ${tokens}` };
}

export interface LengthBucket {
  /** Inclusive source length range of the bucket. */
  lo: number;
  hi: number;
  count: number;
  exactMatch: number;
  tokenAccuracy: number;
}

/**
 * Exact match and token accuracy by source length (Bahdanau et al. 2015, figure 2): buckets of
 * `width` lengths starting at the shortest source length present ([lo, lo+width-1], ...), empty
 * buckets omitted, in increasing length.
 */
export function accuracyByLength(srcLengths: readonly number[], hyps: readonly Seq[], refs: readonly Seq[], width = 1): LengthBucket[] {
  checkCounts('accuracyByLength', hyps.length, refs.length);
  checkCounts('accuracyByLength (source lengths)', srcLengths.length, refs.length);
  if (!(Number.isInteger(width) && width >= 1)) throw new Error(`accuracyByLength: bucket width ${width} is not a whole number >= 1`);
  if (!srcLengths.length) return [];
  const min = Math.min(...srcLengths);
  const by = new Map<number, number[]>();
  srcLengths.forEach((n, i) => {
    const b = Math.floor((n - min) / width);
    const list = by.get(b);
    if (list) list.push(i);
    else by.set(b, [i]);
  });
  return [...by.keys()].sort((a, b) => a - b).map((b) => {
    const idx = by.get(b)!;
    const hs = idx.map((i) => hyps[i]);
    const rs = idx.map((i) => refs[i]);
    return { lo: min + b * width, hi: min + b * width + width - 1, count: idx.length, exactMatch: exactMatch(hs, rs), tokenAccuracy: tokenAccuracy(hs, rs) };
  });
}

export interface AlignmentScore {
  accuracy: number;
  correct: number;
  /** Target positions with a known alignment. */
  total: number;
}

/** Index of the largest entry; ties go to the lowest index. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * Alignment accuracy: over every target position t with a known alignment (alignment[t] not
 * empty), the share where argmax_s attention[t][s] is one of alignment[t]. A position the attention
 * does not reach (a decoded output shorter than the reference) counts as wrong. `attention[i][t]`
 * is example i's row for target position t (teacher-forced on the reference, or from a decoder).
 */
export function alignmentAccuracy(attention: readonly (readonly ArrayLike<number>[])[], alignments: readonly (readonly (readonly number[])[])[]): AlignmentScore {
  checkCounts('alignmentAccuracy', attention.length, alignments.length);
  let correct = 0;
  let total = 0;
  alignments.forEach((al, i) => {
    al.forEach((allowed, t) => {
      if (!allowed.length) return;
      total++;
      const row = attention[i][t];
      if (row && row.length && allowed.includes(argmax(row))) correct++;
    });
  });
  return { accuracy: total ? correct / total : 0, correct, total };
}
