/**
 * Run on selection: a trained run's model over the text under the cursor, in the editor.
 * Decorations colour each character (surprisal, a hidden unit, or input influence); a hover shows
 * what the model expected there. The model runs in a worker (inspectClient.ts: a Web Worker in VS
 * Code for the web, worker_threads on desktop), with a cancellable progress notification when it
 * takes more than a moment, so a large model on a long selection never blocks the extension host;
 * selections are still capped (rnnLab.selection.maxChars). Files are read with
 * vscode.workspace.fs only, so it works in VS Code for the web and on untitled documents.
 *
 * The parts: commands.ts (the commands, which return their results when called programmatically:
 * the integration tests use them), models.ts (which run, its model), workerTalk.ts (requests to
 * the inspect worker), decorations.ts (colours and the legend), hover.ts, editTracking.ts,
 * colourScales.ts. This file: what they share.
 */
import type * as vscode from 'vscode';
import type { LoadedModel } from '../../engine/checkpoint';
import type { SeriesInspection, TextInspection } from '../../protocol/inspectWorker';
import type { Ask } from './workerTalk';

/** A run's model on the host (for its metadata) and the checkpoint bytes the worker is sent. */
export interface LoadedRun {
  model: LoadedModel;
  bytes: Uint8Array;
  /** run id @ checkpoint mtime: which model the worker holds. */
  key: string;
}

export interface ChosenRun {
  id: string;
  uri: vscode.Uri;
}

export type Mode = 'surprisal' | 'unit' | 'influence' | 'series';

/** What was run over one document, and where (document offsets shift with edits before it). */
export interface DocState {
  uri: string;
  runId: string;
  model: LoadedModel;
  loaded: LoadedRun;
  /** Document offset (UTF-16) of the inspected text and its length. */
  start: number;
  length: number;
  /** How many characters before `start` were fed as context (their edits change the predictions too). */
  contextLength: number;
  result: TextInspection | SeriesInspection;
  /** Series: document line number of each inspected line. */
  lines: number[];
  mode: Mode;
  unit?: { layer: number; state: 'h' | 'c'; unit: number; values: number[]; scale: number };
  influence?: { target: number; values: Float64Array; max: number };
}

export interface RunOnSelectionResult {
  runId: string;
  kind: 'text' | 'series';
  /** Document offset and length of the inspected text. */
  start: number;
  length: number;
  /** Text: per character (code point). */
  chars?: { char: string; offset: number; known: boolean; p: number | null; surprisal: number | null; top: { char: string; p: number }[] }[];
  /** The context fed before the text (the document text just before it). */
  context?: string;
  /** Series: per selected line. */
  rows?: { line: number; actual: number[] | null; predicted: number[] | null; error: number[] | null; problem?: string }[];
  milliseconds: number;
}

export interface SelectionApi {
  /** The decorations currently shown on a document: mode and how many characters/rows carry one. */
  decorationsOf(doc: vscode.TextDocument): { mode: Mode; decorated: number; start: number; length: number } | undefined;
  /** The legend shown in the status bar (empty when hidden). */
  legend(): string;
  /** The worker is computing a request. */
  busy(): boolean;
  /** What the progress notification's Cancel does: terminate the worker (the next request starts a new one). */
  cancelWork(): void;
  /** A request to the window's one inspect worker, with progress and Cancel (Translate Selection's way in). */
  ask: Ask;
}

