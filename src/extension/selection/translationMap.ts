/**
 * Translate Selection's pure parts (no vscode): which document lines a selection's sources are,
 * which token a column is on, and the highlights an attention row or column gives. Unit-tested in
 * test/unit/translate.test.ts.
 */
import type { TranslatedLine } from '../../protocol/inspectWorker';

/** One source line of a selection: its document line, the column the selected part starts at, and its text. */
export interface SelectedLine {
  line: number;
  character: number;
  text: string;
}

/**
 * The selection's text as lines (each a source; empty ones kept). A selection that ends at the
 * start of a line does not include that line.
 */
export function selectedLines(text: string, startLine: number, startCharacter: number): SelectedLine[] {
  const parts = text.split(/\r\n|\r|\n/);
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((t, i) => ({ line: startLine + i, character: i === 0 ? startCharacter : 0, text: t }));
}

/** The index of the token whose [offset, offset + length) holds `column`, else -1. */
export function tokenAt(tokens: readonly { offset: number; length: number }[], column: number): number {
  return tokens.findIndex((t) => t.offset <= column && column < t.offset + t.length);
}

/** One highlighted token: its index, where it is in its line, and the attention weight that lights it. */
export interface Highlight {
  token: number;
  offset: number;
  length: number;
  weight: number;
}

/** Weights below this are not drawn (a faint wash over every token hides the one that matters). */
export const HIGHLIGHT_FLOOR = 0.02;

/** The source tokens output token `t` attended to, with their weights (attention row t). */
export function sourceHighlights(tl: TranslatedLine, t: number): Highlight[] {
  const row = tl.attention[t];
  if (!row) return [];
  const out: Highlight[] = [];
  tl.source.forEach((s, k) => {
    if (s.column >= 0 && row[s.column] >= HIGHLIGHT_FLOOR) out.push({ token: k, offset: s.offset, length: s.length, weight: row[s.column] });
  });
  return out;
}

/** The output tokens that attended to source token `k`, with their weights (attention column of k). */
export function outputHighlights(tl: TranslatedLine, k: number): Highlight[] {
  const column = tl.source[k]?.column ?? -1;
  if (column < 0) return [];
  const out: Highlight[] = [];
  tl.output.forEach((o, t) => {
    const w = tl.attention[t]?.[column] ?? 0;
    if (w >= HIGHLIGHT_FLOOR) out.push({ token: t, offset: o.offset, length: o.length, weight: w });
  });
  return out;
}

/** Opacity levels of the highlight decorations: a weight is drawn at the level just above it. */
export const HIGHLIGHT_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/** The index in HIGHLIGHT_LEVELS of the opacity that draws `weight` (weights are in [0, 1]). */
export function levelOf(weight: number): number {
  return Math.min(HIGHLIGHT_LEVELS.length - 1, Math.max(0, Math.ceil(weight * HIGHLIGHT_LEVELS.length - 1e-9) - 1));
}

/** The text Insert Translation writes after the last source line: each line's output on its own line. */
export function insertionText(lines: readonly TranslatedLine[], eol: string): string {
  return lines.map((l) => eol + l.text).join('');
}
