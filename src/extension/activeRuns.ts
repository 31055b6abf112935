/**
 * Where a run starts and ends in the extension. ActiveRuns owns every run training in this
 * window, from start to end: its worker (TrainingSession), the writes to its folder (RunStore),
 * the panels' feed (PanelHub), the status bar, the progress notification, stop, and "when done".
 * Nothing else holds a run's state.
 *
 * A run's life: start() creates its folder (config.json), reveals the Diagnostics view on it,
 * starts its worker; each metrics/diagnostics record goes to the store (flushed in batches) and
 * the panels (batched per ~100 ms); checkpoints are written in order, the newest replacing one still
 * waiting (newestWrites.ts); the worker's one 'done'
 * (TrainingSession guarantees exactly one, however the worker ends) waits for the last checkpoint,
 * then the store writes summary.json last, then the panels, the Runs view and whenDone() learn the
 * outcome.
 */
import * as vscode from 'vscode';
import type { MetricsRecord, RunConfig, RunSummary, SweepMember } from '../protocol/config';
import type { FromWorker, ResumeFrom } from '../protocol/trainingWorker';
import { errorText, type Feedback } from './feedback';
import { newestWrites } from './newestWrites';
import type { PanelHub } from './panelHub';
import type { RunStore } from './runStore';
import type { RunsView } from './runsTree';
import { TrainingSession } from './trainingSession';

/** A saved run to continue (Resume Run): its bytes, and where they came from for the log. */
export type ResumeStart = ResumeFrom & { fromRun: string; step: number };

interface ActiveRun {
  config: RunConfig;
  session: TrainingSession;
  /** Settles once the run's files are written (summary.json last). */
  stored: Promise<RunSummary>;
  last?: MetricsRecord;
}

export interface ActiveRunsDeps {
  extensionUri: vscode.Uri;
  store: RunStore;
  hub: PanelHub;
  runsView: RunsView;
  feedback: Feedback;
  /** Opens the Diagnostics view, which a starting run takes over (without taking the focus). */
  reveal: () => void;
}

export class ActiveRuns implements vscode.Disposable {
  private readonly active = new Map<string, ActiveRun>();
  /** Summaries of runs that ended in this window, so whenDone() also answers after the fact. */
  private readonly ended = new Map<string, RunSummary>();
  private readonly statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  private statusTimer: ReturnType<typeof setTimeout> | undefined;
  /** Tests: start workers from this script (a fault-injecting fake) instead of the real one. */
  workerScript: vscode.Uri | undefined;
  /** Tests only: the gradient workers' script in the web host (see TrainingSessionOptions.shardWorkerScript). */
  shardWorkerScript: vscode.Uri | undefined;

  constructor(private readonly deps: ActiveRunsDeps) {
    this.statusBar.command = 'workbench.view.extension.rnnLab';
  }

  ids(): string[] {
    return [...this.active.keys()];
  }

  has(id: string): boolean {
    return this.active.has(id);
  }

  /** The latest metrics record of a run training in this window. */
  last(id: string): MetricsRecord | undefined {
    return this.active.get(id)?.last;
  }

  /** Settles with the summary once the run has ended and its files are written (also for a run that already ended here). */
  whenDone(id: string): Promise<RunSummary> | undefined {
    return this.active.get(id)?.stored ?? (this.ended.has(id) ? Promise.resolve(this.ended.get(id)!) : undefined);
  }

  /** Asks one run to stop after its current step. False when it does not train here. */
  stop(id: string): boolean {
    const run = this.active.get(id);
    if (!run) return false;
    this.deps.feedback.log(`stopping run ${id}`);
    run.session.stop();
    return true;
  }

  /** Asks every run to stop after its current step. False when none trains. */
  stopAll(): boolean {
    for (const [id, run] of this.active) {
      this.deps.feedback.log(`stopping run ${id}`);
      run.session.stop();
    }
    return this.active.size > 0;
  }

  /** Starts a run; resolves with its id once its worker is started. Throws (after recording the run as failed) if the worker cannot start. */
  async start(config: RunConfig, dataText: string, resume?: ResumeStart, sweep?: SweepMember): Promise<string> {
    const { store, hub, feedback } = this.deps;
    const runId = await store.create(config, sweep);
    feedback.log(`run ${runId} started: ${config.cell} ${config.layers}x${config.hidden}, ${config.steps} steps, data ${config.data}${resume ? `, resumed from run ${resume.fromRun} at step ${resume.step}` : ''}`);
    hub.startRun(runId, config);
    this.deps.reveal();
    let resolveStored!: (s: RunSummary) => void;
    const stored = new Promise<RunSummary>((r) => (resolveStored = r));
    const run: Partial<ActiveRun> & { config: RunConfig; stored: Promise<RunSummary> } = { config, stored };
    // Checkpoint writes in order (they share one .tmp name), at most one waiting behind the one
    // in flight (a newer generation replaces it); 'done' waits for the last.
    let written: number | undefined;
    const checkpoints = newestWrites<Extract<FromWorker, { type: 'checkpoint' }>>(
      async ({ bytes, resumeState, step }) => {
        await store.writeCheckpoint(runId, bytes, resumeState);
        written = step;
      },
      (e) => feedback.log(`run ${runId}: checkpoint write failed: ${errorText(e)}`),
    );
    const onMessage = (msg: FromWorker): void => {
      switch (msg.type) {
        case 'started':
          hub.started(runId, msg.path, msg.workers);
          break;
        case 'metrics':
          store.appendMetrics(runId, msg.record);
          run.last = msg.record;
          this.scheduleStatusBar();
          this.deps.runsView.scheduleRefresh();
          hub.record(msg);
          break;
        case 'diagnostics':
          store.appendDiagnostics(runId, msg.record);
          hub.record(msg);
          break;
        case 'seq2seqEval':
          // Held-out evaluations of a seq2seq run: kept in eval.jsonl as the CLI keeps them.
          store.appendEval(runId, msg.record);
          hub.record(msg);
          break;
        case 'checkpoint':
          checkpoints.push(msg);
          break;
        case 'log':
          feedback.output.appendLine(`[${runId}] ${msg.message}`);
          break;
        case 'done':
          // summary.checkpointStep is the last generation on disk, not the last one the session sent.
          void checkpoints.idle().then(() => {
            const { checkpointStep: _sent, ...summary } = msg.summary;
            this.end(runId, written === undefined ? summary : { ...summary, checkpointStep: written }, resolveStored);
          });
          break;
      }
    };
    let session: TrainingSession;
    try {
      session = await TrainingSession.start({ extensionUri: this.deps.extensionUri, runId, config, dataText, resume, onMessage, workerScript: this.workerScript, shardWorkerScript: this.shardWorkerScript });
    } catch (e) {
      const summary: RunSummary = { status: 'failed', step: 0, message: errorText(e) };
      await store.finish(runId, summary);
      hub.endRun(runId, summary.status);
      await this.deps.runsView.refresh();
      throw e;
    }
    run.session = session;
    this.active.set(runId, run as ActiveRun);
    this.updateStatusBar();
    await this.deps.runsView.refresh();
    this.showProgress(runId, config, session);
    return runId;
  }

  /** The run's one end: files first (summary.json last), then everyone who shows it. */
  private async end(runId: string, summary: RunSummary, resolveStored: (s: RunSummary) => void): Promise<void> {
    const { store, hub, feedback } = this.deps;
    await store.finish(runId, summary).catch((e) => feedback.log(`run ${runId}: summary write failed: ${errorText(e)}`));
    this.ended.set(runId, summary);
    this.active.delete(runId);
    this.updateStatusBar();
    const loss = summary.loss !== undefined ? `, loss ${summary.loss.toFixed(4)}` : '';
    feedback.log(`run ${runId} ${summary.status} at step ${summary.step}${loss}${summary.message ? `: ${summary.message}` : ''}`);
    if (summary.status === 'failed' || summary.status === 'diverged') {
      feedback.errorWithLog(`RNN Lab: run ${runId} ${summary.status}${summary.message ? `: ${summary.message}` : ''}`);
    }
    hub.endRun(runId, summary.status, summary.path, summary.workers);
    await this.deps.runsView.refresh();
    resolveStored(summary);
  }

  private showProgress(runId: string, config: RunConfig, session: TrainingSession): void {
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `RNN Lab: training ${config.name}`, cancellable: true }, async (progress, token) => {
      token.onCancellationRequested(() => session.stop());
      let lastPct = 0;
      const timer = setInterval(() => {
        const r = this.last(runId);
        if (!r) return;
        const pct = Math.min(100, (100 * r.step) / config.steps);
        progress.report({ increment: pct - lastPct, message: `step ${r.step}/${config.steps}, loss ${r.loss.toFixed(3)}` });
        lastPct = pct;
      }, 500);
      await this.active.get(runId)?.stored;
      clearInterval(timer);
    });
  }

  // Metrics arrive hundreds of times a second for small models; every status-bar change is a
  // message to the workbench, and in a remote (code-server) host those queue in front of the run
  // store's file writes. Four updates a second is what a person can read anyway.
  private scheduleStatusBar(): void {
    this.statusTimer ??= setTimeout(() => {
      this.statusTimer = undefined;
      this.updateStatusBar();
    }, 250);
  }

  private updateStatusBar(): void {
    if (this.active.size === 0) {
      this.statusBar.hide();
      return;
    }
    const r = [...this.active.values()].find((a) => a.last)?.last;
    const text = r ? `step ${r.step} · loss ${r.loss.toFixed(3)} · ${Math.round(r.charsPerSec)} chars/s` : 'starting';
    this.statusBar.text = `$(pulse) RNN Lab: ${text}${this.active.size > 1 ? ` (+${this.active.size - 1})` : ''}`;
    this.statusBar.tooltip = 'RNN Lab training - click to open the panel';
    this.statusBar.show();
  }

  dispose(): void {
    clearTimeout(this.statusTimer);
    this.active.forEach((r) => r.session.dispose());
    this.statusBar.dispose();
  }
}
