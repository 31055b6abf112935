/**
 * Messages between the extension and the panel webviews (the side view "Diagnostics" and the
 * run report). What a panel sends is untrusted: src/extension/panelMessages.ts validates it.
 */
import type { CellKind, ClipMode, DiagnosticsRecord, EnginePath, MetricsRecord, RunStatus, Seq2SeqEvalRecord, SweepTableRow, TaskKind } from './config';

/** What a panel needs to know about a run to label and draw it. */
export interface PanelRunInfo {
  id: string;
  name: string;
  status: RunStatus;
  cell?: CellKind;
  layers?: number;
  hidden?: number;
  clipMode?: ClipMode;
  /** Clipping threshold t (drawn as a line on the gradient-norm chart). */
  clip?: number;
  task?: TaskKind;
  /** The engine the run trains on (from its 'started' message or its summary). */
  path?: EnginePath;
  /** How many workers share each step's batch (same sources as path). */
  workers?: number;
}

/** The charts every run gets. */
export const LM_CHARTS = ['loss', 'gradNorm', 'sigma1', 'spectrum', 'saturation', 'scatter', 'flow'] as const;
/** The charts only seq2seq runs get: attention heatmap, held-out metrics, accuracy by source length, encoder gradient flow. */
export const SEQ2SEQ_CHARTS = ['attention', 's2sMetrics', 'byLength', 'encoderFlow'] as const;
/** Identifies the charts a panel draws; also the names of exported files. */
export const PANEL_CHARTS = [...LM_CHARTS, ...SEQ2SEQ_CHARTS] as const;
export type PanelChartId = (typeof PANEL_CHARTS)[number];

/** Messages the extension posts to a panel webview (after the panel said 'ready'). */
export type ToPanel =
  /** The runs the picker offers and the ones shown now (side panel: one; report: one or more to overlay). */
  | { type: 'runs'; runs: PanelRunInfo[]; shown: string[] }
  /** A run's buffered records (bounded and decimated by the extension), replacing what the panel had for it. */
  | { type: 'runData'; run: PanelRunInfo; metrics: MetricsRecord[]; diagnostics: DiagnosticsRecord[]; decimatedFrom?: number; evals?: Seq2SeqEvalRecord[] }
  /** Live records, batched by the extension (one message per ~100 ms instead of one per step). evals: seq2seq held-out evaluations. */
  | { type: 'records'; runId: string; metrics: MetricsRecord[]; diagnostics: DiagnosticsRecord[]; evals?: Seq2SeqEvalRecord[] }
  | { type: 'exported'; chart: string; format: PanelExportFormat; path?: string; error?: string }
  /** The export command asks for a chart as the panel draws it now (the panel answers with 'export', request echoed). */
  | { type: 'exportRequest'; chart: PanelChartId; format: PanelExportFormat; request: number }
  /** A sweep's report: the varied fields and each run's final metrics (webview/sweepTable.ts draws it). */
  | { type: 'sweepTable'; sweepId: string; name: string; keys: string[]; rows: SweepTableRow[] };

export type PanelExportFormat = 'png' | 'svg' | 'csv';

/** Messages a panel webview posts to the extension. Untrusted: validated field by field before use. */
export type FromPanel =
  | { type: 'ready' }
  /** How many records the panel has received so far (the in-host tests read it: they cannot see the DOM). */
  | { type: 'received'; metrics: number; diagnostics: number; lastStep: number; evals?: number }
  /** What the panel drew: points (or marks) per chart, for the latest step it holds. */
  | { type: 'drew'; runIds: string[]; lastStep: number; charts: Partial<Record<PanelChartId, number>> }
  /** The run(s) the user picked (side panel: one; report: the overlay). */
  | { type: 'show'; runIds: string[] }
  /** A chart exported by the user (or for an exportRequest, whose number it echoes): PNG as a data: URL, SVG and CSV as text. */
  | { type: 'export'; chart: PanelChartId; format: PanelExportFormat; data: string; request?: number }
  /** An exportRequest the panel cannot answer (nothing drawn for that chart): the reason, for the user. */
  | { type: 'exportFailed'; request: number; reason: string };
