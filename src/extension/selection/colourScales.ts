/**
 * The colour scales of run on selection and how values fall into their buckets. Backgrounds are
 * translucent so the text stays readable on light and dark themes; the swatches in the status
 * bar legend use the same hues, opaque. Pure: no vscode.
 */
/** ColorBrewer RdYlGn, reversed: green = expected, red = surprising. */
export const surprisalHues = ['#1a9850', '#66bd63', '#a6d96a', '#d9ef8b', '#fee08b', '#fdae61', '#f46d43', '#d73027'];
/** Upper bucket edges of surprisal in nats (-ln p); ln 2 nats = 1 bit. Fixed, so runs compare. */
export const surprisalEdges = [0.25, 0.5, 1, 1.5, 2, 3, 4];
/** ColorBrewer RdBu: blue negative, red positive (as in Karpathy et al.'s cell plots); near 0 stays plain. */
export const divergingHues = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'];
export const influenceAlphas = [0.06, 0.12, 0.2, 0.3, 0.4, 0.52, 0.65, 0.8];
export const influenceRgb = '138, 92, 235';
/**
 * Influence falls off roughly exponentially with distance (more so for a vanilla RNN), so it is
 * coloured on a log scale: 8 buckets over this many decades below the largest; smaller is plain.
 */
export const influenceDecades = 2;

export function influenceBucket(v: number, max: number): number {
  if (!(v > 0 && max > 0)) return -1;
  const f = 1 + Math.log10(v / max) / influenceDecades;
  return f < 0 ? -1 : Math.min(7, Math.floor(f * 8));
}

/** Upper bucket edges of a forecast's |error| / std of the column. */
export const seriesEdges = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.5];

export function rgba(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function bucketOf(value: number, edges: number[]): number {
  let b = 0;
  while (b < edges.length && value >= edges[b]) b++;
  return b;
}

/** How a character reads in a hover or a quick pick (whitespace made visible). */
export function show(ch: string): string {
  if (ch === ' ') return '␣';
  if (ch === '\n') return '⏎';
  if (ch === '\t') return '⇥';
  if (ch === '`') return 'backtick';
  if (ch === '|') return '\\|'; // a table cell would end at a bare pipe
  return ch;
}

export function unitVarianceOf(values: number[]): number {
  const mean = values.reduce((a, v) => a + v, 0) / Math.max(1, values.length);
  return values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length);
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : Number(x.toPrecision(4)).toString();
}
