import * as vscode from 'vscode';
import type { FromWorker, RunConfig, RunSummary, ToWorker } from '../protocol';

export interface TrainingSessionOptions {
  extensionUri: vscode.Uri;
  runId: string;
  config: RunConfig;
  dataText: string;
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
  private worker: WorkerHandle | undefined;

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
    const script = options.workerScript ?? defaultWorkerScript(options.extensionUri);
    session.worker = await spawnWorker(
      script,
      (msg) => session.receive(msg),
      (message) => session.fail(message),
    );
    const { runId, config, dataText } = options;
    session.worker.post({ type: 'start', runId, config, dataText });
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
    this.options.onMessage(msg);
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

interface WorkerHandle {
  post(msg: ToWorker): void;
  terminate(): void;
}

/** The Node host has `process`; the web worker host has none (`navigator` exists in both). */
function isNodeHost(): boolean {
  return typeof process === 'object' && typeof process.versions?.node === 'string';
}

function defaultWorkerScript(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', isNodeHost() ? 'worker.js' : 'worker-web.js');
}

async function spawnWorker(
  script: vscode.Uri,
  onMessage: (msg: FromWorker) => void,
  onFailure: (message: string) => void,
): Promise<WorkerHandle> {
  return isNodeHost() ? spawnNodeWorker(script, onMessage, onFailure) : spawnWebWorker(script, onMessage, onFailure);
}

async function spawnNodeWorker(
  script: vscode.Uri,
  onMessage: (msg: FromWorker) => void,
  onFailure: (message: string) => void,
): Promise<WorkerHandle> {
  // Loaded lazily: the web bundle keeps this import external and never reaches it.
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(script.fsPath);
  let terminated = false;
  worker.on('message', onMessage);
  worker.on('error', (err) => onFailure(err.message));
  worker.on('exit', (code) => {
    if (!terminated) onFailure(`it exited (code ${code}) before the run was done`);
  });
  return {
    post: (msg) => worker.postMessage(msg),
    terminate: () => {
      terminated = true;
      void worker.terminate();
    },
  };
}

async function spawnWebWorker(
  script: vscode.Uri,
  onMessage: (msg: FromWorker) => void,
  onFailure: (message: string) => void,
): Promise<WorkerHandle> {
  // A Worker must come from the creator's own origin, and the extension's files are served from
  // another one (the web server or a CDN); a blob: URL made from the script's text is ours.
  const source = await readText(script);
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: 'rnn-lab-training' });
  worker.onmessage = (event: MessageEvent<FromWorker>) => onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    onFailure(event.message || 'error in the worker script');
  };
  worker.onmessageerror = () => onFailure('a message from the worker could not be read');
  return {
    post: (msg) => worker.postMessage(msg),
    terminate: () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

async function readText(uri: vscode.Uri): Promise<string> {
  if (uri.scheme === 'http' || uri.scheme === 'https') {
    const res = await fetch(uri.toString(true));
    if (!res.ok) throw new Error(`cannot load the training worker ${uri.toString(true)}: HTTP ${res.status}`);
    return res.text();
  }
  return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
}
