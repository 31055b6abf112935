import * as vscode from 'vscode';
import type { RunConfig, RunSummary } from '../protocol/config';
import type { FromWorker, ResumeFrom, ToWorker } from '../protocol/trainingWorker';
import { timed } from './hostWork';
import { spawnWorker, workerScript, type WorkerHandle } from './workerHost';

export interface TrainingSessionOptions {
  extensionUri: vscode.Uri;
  runId: string;
  config: RunConfig;
  dataText: string;
  /** Continue this saved run (exactly) instead of starting from fresh weights. */
  resume?: ResumeFrom;
  /** Every message of the worker, in order, ending with exactly one 'done'. */
  onMessage: (msg: FromWorker) => void;
  /** Another worker bundle (tests use a fake). Default: dist/worker-web.js or dist/worker.js. */
  workerScript?: vscode.Uri;
}

/** How long stop() waits for the worker to end the run itself before terminating it. */
const stopGraceMs = 5_000;

/**
 * One training run in its own worker: a Web Worker in the web extension host, a worker_threads
 * Worker in the Node host (desktop, code-server). Both speak ToWorker / FromWorker.
 */
export class TrainingSession implements vscode.Disposable {
  /** Settles once, with the run's summary, however the run ends (never rejects). */
  readonly done: Promise<RunSummary>;
  private resolveDone!: (summary: RunSummary) => void;
  private finished = false;
  private lastStep = 0;
  private stopTimer: ReturnType<typeof setTimeout> | undefined;
  private worker: WorkerHandle<ToWorker> | undefined;

  private constructor(private readonly options: TrainingSessionOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get runId(): string {
    return this.options.runId;
  }

  get isRunning(): boolean {
    return !this.finished;
  }

  static async start(options: TrainingSessionOptions): Promise<TrainingSession> {
    const session = new TrainingSession(options);
    const script = options.workerScript ?? workerScript(options.extensionUri, 'worker');
    session.worker = await spawnWorker<ToWorker, FromWorker>(
      script,
      'the training worker',
      (msg) => session.receive(msg),
      (message) => session.fail(message),
    );
    const { runId, config, dataText, resume } = options;
    // Every run keeps its optimizer and RNG state beside its checkpoints, so it can be resumed.
    session.worker.post({ type: 'start', runId, config, dataText, resume, keepResumable: true });
    return session;
  }

  /** Asks the worker to end the run after the current step; terminates it if it does not. */
  stop(): void {
    if (this.finished || this.stopTimer) return;
    this.worker?.post({ type: 'stop', runId: this.runId });
    this.stopTimer = setTimeout(
      () => this.end({ status: 'stopped', step: this.lastStep, message: 'the worker did not stop in time and was terminated' }),
      stopGraceMs,
    );
  }

  dispose(): void {
    this.end({ status: 'stopped', step: this.lastStep, message: 'the session was closed' });
  }

  private receive(msg: FromWorker): void {
    if (this.finished || msg.runId !== this.runId) return;
    if (msg.type === 'metrics') this.lastStep = msg.record.step;
    if (msg.type === 'done') {
      this.end(msg.summary);
      return;
    }
    timed('worker message', () => this.options.onMessage(msg));
  }

  private fail(message: string): void {
    this.end({ status: 'failed', step: this.lastStep, message: `the training worker failed: ${message}` });
  }

  /** The single way a session ends: listeners get one 'done', the worker is gone. */
  private end(summary: RunSummary): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stopTimer);
    this.worker?.terminate();
    this.worker = undefined;
    this.options.onMessage({ type: 'done', runId: this.runId, summary });
    this.resolveDone(summary);
  }
}

