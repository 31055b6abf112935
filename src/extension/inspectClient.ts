import * as vscode from 'vscode';
import type { FromInspectWorker, ToInspectWorker } from '../protocol';

/** A request without its id and model fields: the client adds those. */
export type InspectRequest =
  | { type: 'inspectText'; text: string; context: string }
  | { type: 'inspectSeries'; lines: string[]; header: string[] | null }
  | { type: 'influence'; tokens: Int32Array; steps: Int32Array; target: number }
  | { type: 'sample'; prime: string; length: number; temperature: number; topK: number; seed: number };

export class InspectCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

interface WorkerHandle {
  post(msg: ToInspectWorker, transfer: ArrayBuffer[]): void;
  terminate(): void;
}

/**
 * Run on selection's worker: one per window, started on first use, holding the last model sent.
 * A Web Worker in VS Code for the web, a worker_threads Worker in the Node host (the spawning
 * follows TrainingSession's). cancel() terminates it (a forward pass cannot be interrupted
 * otherwise); the next request starts a fresh one.
 */
export class InspectClient implements vscode.Disposable {
  private worker: WorkerHandle | undefined;
  private starting: Promise<WorkerHandle> | undefined;
  private heldModel: string | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: FromInspectWorker) => void; reject: (e: Error) => void }>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  /**
   * Sends a request for the model `modelKey`; `checkpoint()` gives its bytes when the worker does
   * not hold it. Resolves with the reply, rejects with InspectCancelled after cancel().
   */
  async request(req: InspectRequest, modelKey: string, checkpoint: () => Uint8Array): Promise<FromInspectWorker> {
    const worker = await this.start();
    const id = this.nextId++;
    const send = this.heldModel !== modelKey;
    // The bytes are copied (not transferred): the host keeps its cached copy.
    const msg = { ...req, id, modelKey, ...(send ? { checkpoint: checkpoint() } : {}) } as ToInspectWorker;
    this.heldModel = modelKey;
    const reply = new Promise<FromInspectWorker>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.post(msg, []);
    return reply;
  }

  /** A request is out (the worker is computing). */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Forget which model the worker holds (it said it has another): the next request sends it. */
  forgetModel(): void {
    this.heldModel = undefined;
  }

  cancel(): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.starting = undefined;
    this.heldModel = undefined;
    for (const p of this.pending.values()) p.reject(new InspectCancelled());
    this.pending.clear();
  }

  dispose(): void {
    this.cancel();
  }

  private receive(msg: FromInspectWorker): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    p.resolve(msg);
  }

  private fail(message: string): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.starting = undefined;
    this.heldModel = undefined;
    for (const p of this.pending.values()) p.reject(new Error(`the inspect worker failed: ${message}`));
    this.pending.clear();
  }

  private start(): Promise<WorkerHandle> {
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= (async () => {
      const node = typeof process === 'object' && typeof process.versions?.node === 'string';
      const script = vscode.Uri.joinPath(this.extensionUri, 'dist', node ? 'inspect-worker.js' : 'inspect-worker-web.js');
      const handle = node ? await spawnNode(script, (m) => this.receive(m), (e) => this.fail(e)) : await spawnWeb(script, (m) => this.receive(m), (e) => this.fail(e));
      this.worker = handle;
      return handle;
    })();
    return this.starting;
  }
}

async function spawnNode(script: vscode.Uri, onMessage: (m: FromInspectWorker) => void, onFailure: (message: string) => void): Promise<WorkerHandle> {
  // Loaded lazily: the web bundle keeps this import external and never reaches it.
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(script.fsPath);
  let terminated = false;
  worker.on('message', onMessage);
  worker.on('error', (err) => onFailure(err.message));
  worker.on('exit', (code) => {
    if (!terminated) onFailure(`it exited (code ${code})`);
  });
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    terminate: () => {
      terminated = true;
      void worker.terminate();
    },
  };
}

async function spawnWeb(script: vscode.Uri, onMessage: (m: FromInspectWorker) => void, onFailure: (message: string) => void): Promise<WorkerHandle> {
  // A Worker must come from the creator's own origin; a blob: URL made from the script's text is ours.
  let source: string;
  if (script.scheme === 'http' || script.scheme === 'https') {
    const res = await fetch(script.toString(true));
    if (!res.ok) throw new Error(`cannot load the inspect worker ${script.toString(true)}: HTTP ${res.status}`);
    source = await res.text();
  } else source = new TextDecoder().decode(await vscode.workspace.fs.readFile(script));
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: 'rnn-lab-inspect' });
  worker.onmessage = (event: MessageEvent<FromInspectWorker>) => onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    onFailure(event.message || 'error in the worker script');
  };
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    terminate: () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}
