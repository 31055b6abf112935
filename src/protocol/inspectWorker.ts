/**
 * Messages between the extension and the inspect worker (run on selection), and the inspection
 * results it returns. Requests carry an id; each gets one reply with that id.
 */
import type { AttentionKind, CellKind } from './config';

/**
 * Messages to the inspect worker (run on selection: src/extension/selection.ts). A request carries
 * the checkpoint bytes only when the worker does not hold that model yet (`modelKey`).
 */
export type ToInspectWorker =
  | { type: 'inspectText'; id: number; modelKey: string; checkpoint?: Uint8Array; text: string; context: string }
  | { type: 'inspectSeries'; id: number; modelKey: string; checkpoint?: Uint8Array; lines: string[]; header: string[] | null }
  | { type: 'influence'; id: number; modelKey: string; checkpoint?: Uint8Array; tokens: Int32Array; steps: Int32Array; target: number }
  | { type: 'sample'; id: number; modelKey: string; checkpoint?: Uint8Array; prime: string; length: number; temperature: number; topK: number; seed: number }
  | { type: 'translate'; id: number; modelKey: string; checkpoint?: Uint8Array; lines: string[]; beam: number; alpha: number };

/** What a character model thinks of a text (engine/inspect.ts inspectText computes it). */
export interface Prediction {
  char: string;
  p: number;
}

export interface CharInspection {
  char: string;
  /** UTF-16 offset of the character in the inspected text (characters are code points). */
  offset: number;
  known: boolean;
  /** p(char | prefix); null when unknown or when nothing known precedes it. */
  p: number | null;
  /** -ln p (nats); null with p. */
  surprisal: number | null;
  /** The 5 most likely characters of the distribution that predicted this one, most likely first. */
  top: Prediction[];
  /** Time step of the network that read this character (-1 if unknown). */
  step: number;
}

export interface TextInspection {
  kind: 'text';
  chars: CharInspection[];
  cell: CellKind;
  layers: number;
  hidden: number;
  gateNames: string[];
  /** Per layer, (n, H): h after reading char i (unknown chars repeat the carried state). */
  h: Float64Array[];
  /** LSTM only, per layer, (n, H): c after reading char i. */
  c: Float64Array[];
  /** Per layer, (n, G*H): gate activations while reading char i (NaN rows for unknown chars). */
  gates: Float64Array[];
  /**
   * Set by compactGates(): (n, L, G, 2) mean and saturated share per character, layer and gate,
   * with `gates` emptied (a 2x256 LSTM's gates over 5,000 characters are 80 MB; these are 320 KB).
   */
  gateStats?: Float64Array;
  /** The fed token ids: context then text, unknown characters left out. */
  tokens: Int32Array;
  /** How many of `tokens` come from the context. */
  contextSteps: number;
}

export interface SeriesRowInspection {
  /** Index of the line in the given lines. */
  line: number;
  /** The row's values in the model's columns (raw units), or null if the row could not be read. */
  actual: number[] | null;
  /** One-step-ahead prediction of this row from the rows before it (raw units), or null. */
  predicted: number[] | null;
  /** actual - predicted, per column. */
  error: number[] | null;
  /** Why the row was skipped (header, missing cell, not a number). */
  problem?: string;
}

export interface SeriesInspection {
  kind: 'series';
  columns: string[];
  rows: SeriesRowInspection[];
  /** Root mean squared error over the predicted rows, per column (raw units). */
  rmse: number[];
}

/** One source token of a line to translate, where it is in the line, and whether the vocabulary has it. */
export interface SourceToken {
  /** The token as written. */
  text: string;
  /** UTF-16 offset in the line and length. */
  offset: number;
  length: number;
  /** In the source vocabulary. An unknown token is fed as <unk> when the vocabulary has one, else left out. */
  known: boolean;
  /** Its column in the attention rows (index among the fed tokens), or -1 when it was not fed. */
  column: number;
}

/** One output token: its string and where it is in the line's output text. */
export interface OutputToken {
  text: string;
  offset: number;
  length: number;
}

/** A seq2seq run's translation of one line (an empty or blank line: no tokens, empty output). */
export interface TranslatedLine {
  source: SourceToken[];
  output: OutputToken[];
  /** The output text (tokens detokenized: characters joined, words with one space). */
  text: string;
  /** Decoding ended with </s> (false: stopped at the length limit). */
  finished: boolean;
  /** attention[t][k]: weight of output token t on fed source token k (rows sum to 1); [] for attention "none". */
  attention: number[][];
  /** Why this line's output deserves doubt: unknown tokens, over the trained source length. */
  warnings: string[];
}

/** The widest beam a translate request may ask for (each step scores width x V_tgt candidates). */
export const MAX_TRANSLATE_BEAM = 64;

/** Translate Selection's result: each given line translated, in order. */
export interface Translation {
  kind: 'translation';
  tokenization: 'char' | 'word';
  attention: AttentionKind;
  /** 0: greedy; else the beam width. */
  beam: number;
  /** The longest source the run trained on (tokens). */
  sourceCap: number;
  lines: TranslatedLine[];
}

/** Replies of the inspect worker, one per request, with the request's id. */
export type FromInspectWorker =
  | { type: 'inspected'; id: number; result: TextInspection | SeriesInspection; milliseconds: number }
  | { type: 'influence'; id: number; values: Float64Array; milliseconds: number }
  | { type: 'sampled'; id: number; text: string; milliseconds: number }
  | { type: 'translated'; id: number; result: Translation; milliseconds: number }
  | { type: 'error'; id: number; message: string; needModel?: boolean };
