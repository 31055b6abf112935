import * as vscode from 'vscode';

/**
 * Starting a worker in either extension host, for the training sessions and the inspect worker:
 * a worker_threads Worker in the Node host (desktop, code-server), a Web Worker in VS Code for
 * the web. Both sides then speak the typed messages of src/protocol.
 */
export interface WorkerHandle<In> {
  /** `transfer`: buffers, and in the web host MessagePorts (a run's gradient workers' channels). */
  post(msg: In, transfer?: Transferable[]): void;
  terminate(): void;
}

/**
 * Workers started and ended in this extension host, of either kind: a test (and anyone looking
 * for leaks) compares the two. Ended counts a worker once, whether we terminated it or it died.
 */
export const workerCounts = { started: 0, ended: 0 };

/** The Node host has `process`; the web worker host has none (`navigator` exists in both). */
export function isNodeHost(): boolean {
  return typeof process === 'object' && typeof process.versions?.node === 'string';
}

/** dist/<name>.js in the Node host, dist/<name>-web.js in the web host. */
export function workerScript(extensionUri: vscode.Uri, name: string): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', isNodeHost() ? `${name}.js` : `${name}-web.js`);
}

/**
 * Starts `script` as a worker. `onFailure` is called once if the worker errors or exits without
 * being terminated by us; `what` names it in those messages ("the training worker").
 */
export async function spawnWorker<In, Out>(
  script: vscode.Uri,
  what: string,
  onMessage: (msg: Out) => void,
  onFailure: (message: string) => void,
): Promise<WorkerHandle<In>> {
  if (isNodeHost()) {
    // Loaded lazily: the web bundle keeps this import external and never reaches it.
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(script.fsPath);
    workerCounts.started++;
    let terminated = false;
    worker.on('message', onMessage);
    worker.on('error', (err) => onFailure(err.message));
    worker.on('exit', (code) => {
      workerCounts.ended++;
      if (!terminated) onFailure(`it exited (code ${code}) before its work was done`);
    });
    return {
      // Only the web host posts MessagePorts; this host transfers ArrayBuffers.
      post: (msg, transfer) => worker.postMessage(msg, transfer as ArrayBuffer[] | undefined),
      terminate: () => {
        terminated = true;
        void worker.terminate();
      },
    };
  }
  // A Worker must come from the creator's own origin, and the extension's files are served from
  // another one (the web server or a CDN); a blob: URL made from the script's text is ours.
  const source = await readText(script, what);
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: `rnn-lab ${what}` });
  workerCounts.started++;
  let ended = false;
  worker.onmessage = (event: MessageEvent<Out>) => onMessage(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    onFailure(event.message || 'error in the worker script');
  };
  worker.onmessageerror = () => onFailure('a message from the worker could not be read');
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer ?? []),
    // A Web Worker that dies on its own is only seen through onerror; it ends when we terminate it.
    terminate: () => {
      if (!ended) (ended = true), workerCounts.ended++;
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

async function readText(uri: vscode.Uri, what: string): Promise<string> {
  if (uri.scheme === 'http' || uri.scheme === 'https') {
    const res = await fetch(uri.toString(true));
    if (!res.ok) throw new Error(`cannot load ${what} ${uri.toString(true)}: HTTP ${res.status}`);
    return res.text();
  }
  return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
}
