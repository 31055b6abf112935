import * as vscode from 'vscode';
import { workerCount } from '../engine/shard';
import { isSeq2SeqTask, type RunConfig, type RunSummary } from '../protocol/config';
import type { FromWorker, ResumeFrom, ToWorker } from '../protocol/trainingWorker';
import { timed } from './hostWork';
import { isNodeHost, spawnWorker, workerScript, type WorkerHandle } from './workerHost';

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
  /** Another gradient worker bundle for the web host (tests use a fault-injecting one). Default: dist/shard-worker-web.js. */
  shardWorkerScript?: vscode.Uri;
}

/** What the extension host posts a gradient worker (src/worker/shardWebWorker.ts): its port to the training worker. */
type ToGradientWorker = { type: 'port'; port: MessagePort };

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
  /** The run's gradient workers in the web host (see startGradientWorkers), ended with the run. */
  private gradientWorkers: WorkerHandle<ToGradientWorker>[] = [];
  /** Gradient workers that died before the training worker was there to be told; it is told after the start. */
  private readonly endedEarly: ToWorker[] = [];

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
    const gradient = options.workerScript ? { ports: [] } : await session.startGradientWorkers();
    const script = options.workerScript ?? workerScript(options.extensionUri, 'worker');
    try {
      session.worker = await spawnWorker<ToWorker, FromWorker>(
        script,
        'the training worker',
        (msg) => session.receive(msg),
        (message) => session.fail(message),
      );
    } catch (err) {
      session.endGradientWorkers();
      throw err;
    }
    const { runId, config, dataText, resume } = options;
    // Every run keeps its optimizer and RNG state beside its checkpoints, so it can be resumed.
    const start: ToWorker = { type: 'start', runId, config, dataText, resume, keepResumable: true };
    if (gradient.ports.length > 0) start.gradientPorts = gradient.ports;
    if (gradient.note) start.gradientWorkersNote = gradient.note;
    session.worker.post(start, gradient.ports);
    for (const ended of session.endedEarly.splice(0)) session.worker.post(ended);
    return session;
  }

  /**
   * VS Code for the web: the training worker has no SharedArrayBuffer and, started from a blob:
   * URL, cannot start workers of its own, so a run whose batch is split over K > 1 workers gets
   * them from here: K gradient workers (dist/shard-worker-web.js), each holding one end of a
   * MessageChannel whose other end goes to the training worker (shardMessages.ts). K is what the
   * trainer will ask for (engine/shard.ts workerCount with this browser's cores). A gradient
   * worker that dies is reported to the training worker, which fails the step waiting for it.
   * The Node host's training worker starts its own workers over shared memory: none here.
   */
  private async startGradientWorkers(): Promise<{ ports: MessagePort[]; note?: string }> {
    const { config, extensionUri } = this.options;
    if (isNodeHost() || isSeq2SeqTask(config.task)) return { ports: [] };
    const K = workerCount(config.workers ?? 0, config.batch, navigator.hardwareConcurrency || 1);
    if (K <= 1) return { ports: [] };
    const script = this.options.shardWorkerScript ?? workerScript(extensionUri, 'shard-worker');
    const ports: MessagePort[] = [];
    try {
      for (let k = 0; k < K; k++) {
        const handle = await spawnWorker<ToGradientWorker, never>(
          script,
          `gradient worker ${k + 1} of ${K}`,
          () => {},
          (message) => this.gradientWorkerEnded(k, message),
        );
        this.gradientWorkers.push(handle);
        const { port1, port2 } = new MessageChannel();
        handle.post({ type: 'port', port: port2 }, [port2]);
        ports.push(port1);
      }
    } catch (err) {
      this.endGradientWorkers();
      for (const port of ports) port.close();
      return { ports: [], note: `VS Code for the web could not start gradient workers: ${err instanceof Error ? err.message : String(err)}` };
    }
    return { ports };
  }

  private gradientWorkerEnded(index: number, message: string): void {
    if (this.finished) return;
    const ended: ToWorker = { type: 'gradientWorkerEnded', runId: this.runId, index, message };
    if (this.worker) this.worker.post(ended);
    else this.endedEarly.push(ended);
  }

  private endGradientWorkers(): void {
    for (const handle of this.gradientWorkers) handle.terminate();
    this.gradientWorkers = [];
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
    this.endGradientWorkers();
    this.options.onMessage({ type: 'done', runId: this.runId, summary });
    this.resolveDone(summary);
  }
}

