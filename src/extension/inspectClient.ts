import * as vscode from 'vscode';
import type { FromInspectWorker, ToInspectWorker } from '../protocol/inspectWorker';
import { spawnWorker, workerScript, type WorkerHandle } from './workerHost';

/** A request without its id and model fields: the client adds those. */
export type InspectRequest =
  | { type: 'inspectText'; text: string; context: string }
  | { type: 'inspectSeries'; lines: string[]; header: string[] | null }
  | { type: 'influence'; tokens: Int32Array; steps: Int32Array; target: number }
  | { type: 'sample'; prime: string; length: number; temperature: number; topK: number; seed: number }
  | { type: 'translate'; lines: string[]; beam: number; alpha: number };

export class InspectCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/**
 * Run on selection's worker: one per window, started on first use, holding the last model sent.
 * A Web Worker in VS Code for the web, a worker_threads Worker in the Node host (workerHost.ts).
 * cancel() terminates it (a forward pass cannot be interrupted
 * otherwise); the next request starts a fresh one.
 */
export class InspectClient implements vscode.Disposable {
  private worker: WorkerHandle<ToInspectWorker> | undefined;
  private starting: Promise<WorkerHandle<ToInspectWorker>> | undefined;
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

  private start(): Promise<WorkerHandle<ToInspectWorker>> {
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= (async () => {
      const script = workerScript(this.extensionUri, 'inspect-worker');
      const handle = await spawnWorker<ToInspectWorker, FromInspectWorker>(script, 'the inspect worker', (m) => this.receive(m), (e) => this.fail(e));
      this.worker = handle;
      return handle;
    })();
    return this.starting;
  }
}
