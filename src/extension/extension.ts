/**
 * The extension's registration table: builds the services once, then registers the commands
 * (each group in commands/ or its own module), the views and the providers. A run's life, from
 * Train RNN to summary.json, is in activeRuns.ts.
 */
import * as vscode from 'vscode';
import { ActiveRuns } from './activeRuns';
import { registerExamples } from './commands/examples';
import { registerExportHeatmap } from './commands/exportHeatmap';
import { registerImport } from './commands/importCheckpoint';
import { registerPytorch } from './commands/pytorch';
import { registerResume } from './commands/resume';
import { registerDelete, registerStop } from './commands/runFiles';
import { registerSample } from './commands/sample';
import { registerStopWatching } from './commands/stopWatching';
import { registerSweepCommands } from './commands/sweep';
import { registerTrain } from './commands/train';
import { registerTranslate, type TranslateApi } from './commands/translate';
import { DiagnosticsViewProvider } from './diagnosticsView';
import { Feedback } from './feedback';
import { hostWork, type WorkStats } from './hostWork';
import { registerReportPanel } from './reportPanel';
import { RunPicker } from './runPicker';
import { RunsView, type RunsTreeProvider } from './runsTree';
import { RunStore } from './runStore';
import { Sweeps } from './sweeps';
import { registerSelectionCommands } from './selection/commands';
import type { SelectionApi } from './selection/state';
import type { Services } from './services';
import { readSettings } from './settings';
import { WatchedRuns } from './watchedRuns';
import { workerCounts } from './workerHost';
import type { MetricsRecord, RunSummary } from '../protocol/config';

/**
 * What activate() hands back. Integration tests reach the extension's state through this
 * (a test in the extension host cannot see the DOM of a view or webview).
 */
export interface RnnLabApi {
  readonly runs: RunsTreeProvider;
  readonly diagnostics: DiagnosticsViewProvider;
  readonly store: RunStore;
  /** Run folders written by other processes (running ones, Watch Run Folder...'s). */
  readonly watched: WatchedRuns;
  /** Run ids training in this window. */
  activeRuns(): string[];
  /** The latest metrics record of a run training in this window. */
  lastMetrics(runId: string): MetricsRecord | undefined;
  /** Settles with the summary once the run has ended and its files are written (also for a run that already ended in this window). */
  whenDone(runId: string): Promise<RunSummary> | undefined;
  /** Settles with a sweep's run ids once none of them is queued or training (Train RNN on a sweep config resolves with the sweep's id). */
  whenSweepDone(sweepId: string): Promise<string[]> | undefined;
  /** Every error message shown to the user, in order (tests check them; messages cannot be read from the UI). */
  readonly errors: readonly string[];
  /** Refreshes the Runs tree from disk now. */
  refreshRuns(): Promise<void>;
  /** Run on selection: the decorations shown per document and the status bar legend. */
  readonly selection: SelectionApi;
  /** Translate Selection: a document's translation and what the last hover lit. */
  readonly translate: TranslateApi;
  /** Our synchronous work in this host per kind (worker messages, panel batches, run store flushes); `reset` starts over. */
  hostWork(reset?: boolean): Record<string, WorkStats>;
  /** Workers (training and inspect) started and ended in this host so far: equal when none is alive. */
  workerCounts(): { started: number; ended: number };
  /** Tests only: start the next runs' workers from this script (a fault-injecting fake), or the real one again with undefined. */
  useWorkerScriptForTests(script: vscode.Uri | undefined): void;
  /** Tests only: start the next runs' gradient workers (web host) from this script, or the real one again with undefined. */
  useShardWorkerScriptForTests(script: vscode.Uri | undefined): void;
}

export function activate(context: vscode.ExtensionContext): RnnLabApi {
  // Services.
  const feedback = new Feedback();
  const store = RunStore.forWorkspace(context);
  const diagnostics = new DiagnosticsViewProvider(context.extensionUri, store);
  const runsView = new RunsView(store, (id) => runs.last(id) ?? watched.last(id));
  const runs: ActiveRuns = new ActiveRuns({
    extensionUri: context.extensionUri,
    store,
    hub: diagnostics.hub,
    runsView,
    feedback,
    reveal: () => {
      if (readSettings().revealOnTrain) void diagnostics.reveal();
    },
  });
  // Run folders other processes write (train.py of an exported project, a synced remote run).
  const watched = new WatchedRuns(store, diagnostics.hub, (id) => runs.ids().includes(id), context.workspaceState, (line) => feedback.log(line));
  runsView.outside = () => watched.outsideRuns();
  diagnostics.hub.outside = watched;
  watched.onDidChange(() => void runsView.refresh());
  watched.onDidRecord(() => runsView.scheduleRefresh());
  const sweeps = new Sweeps(runs, feedback);
  runsView.queued = () => sweeps.queued();
  sweeps.onDidChange(() => runsView.scheduleRefresh());
  const picker = new RunPicker(store, feedback, watched);
  const services: Services = { context, store, feedback, runs, sweeps, runsView, picker, diagnostics, watched };

  // Views.
  context.subscriptions.push(
    feedback,
    runs,
    sweeps,
    watched,
    vscode.window.createTreeView('rnnLab.runs', { treeDataProvider: runsView.tree, canSelectMany: true }),
    vscode.window.registerWebviewViewProvider(DiagnosticsViewProvider.viewId, diagnostics),
  );

  // Commands.
  const train = registerTrain(services);
  registerResume(services);
  registerStop(services);
  registerSample(services);
  registerDelete(services);
  registerExamples(services, train);
  registerImport(services);
  registerPytorch(services, watched);
  registerStopWatching(services);
  registerExportHeatmap(services);
  const reports = registerReportPanel(context, diagnostics.hub, store, picker);
  registerSweepCommands(services, reports.open);
  const selection = registerSelectionCommands(context, store, picker, feedback);
  const translate = registerTranslate(services, selection);

  void runsView.refresh();
  return {
    selection,
    translate,
    runs: runsView.tree,
    diagnostics,
    store,
    watched,
    errors: feedback.errors,
    activeRuns: () => runs.ids(),
    lastMetrics: (id) => runs.last(id),
    whenDone: (id) => runs.whenDone(id),
    whenSweepDone: (id) => sweeps.whenDone(id),
    refreshRuns: () => runsView.refresh(),
    useWorkerScriptForTests: (script) => (runs.workerScript = script),
    useShardWorkerScriptForTests: (script) => (runs.shardWorkerScript = script),
    workerCounts: () => ({ ...workerCounts }),
    hostWork,
  };
}

export function deactivate(): void {}
