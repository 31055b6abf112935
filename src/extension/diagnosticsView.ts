import * as vscode from 'vscode';

import { isFromDiagnosticsWebview } from './webviewMessages';
export type { FromDiagnosticsWebview } from './webviewMessages';

/**
 * The "Diagnostics" webview view. A placeholder page for now; it says "ready" once its script
 * runs, so a test can tell the webview really rendered (tests cannot look into its DOM).
 */
export class DiagnosticsViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'rnnLab.diagnostics';

  private view: vscode.WebviewView | undefined;
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  /** Fires each time the webview's page has loaded and its script has run. */
  readonly onDidBecomeReady = this.readyEmitter.event;
  private readyCount = 0;
  /** The webview's latest acknowledgement of what it received (tests read it; the DOM is out of reach). */
  lastAck: { metrics: number; diagnostics: number; lastStep: number } | undefined;

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** How many times the webview page reported ready (it reloads when the view is re-created). */
  get timesReady(): number {
    return this.readyCount;
  }

  get isResolved(): boolean {
    return this.view !== undefined;
  }

  /** Forwards a training message (metrics, diagnostics, ...) to the webview if it exists. */
  post(msg: unknown): void {
    void this.view?.webview.postMessage(msg);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = {
      enableScripts: true,
      // Built assets only; the placeholder needs none yet.
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist')],
    };
    view.webview.onDidReceiveMessage((msg: unknown) => {
      if (!isFromDiagnosticsWebview(msg)) return;
      if (msg.type === 'ready') {
        this.readyCount++;
        this.readyEmitter.fire();
      } else {
        this.lastAck = { metrics: msg.metrics, diagnostics: msg.diagnostics, lastStep: msg.lastStep };
      }
    });
    view.onDidDispose(() => {
      this.view = undefined;
    });
    view.webview.html = placeholderHtml(view.webview, makeNonce());
  }
}

function makeNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function placeholderHtml(webview: vscode.Webview, nonce: string): string {
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
  body { color: var(--vscode-foreground); font-family: var(--vscode-font-family); padding: 0 8px; }
  .hint { color: var(--vscode-descriptionForeground); }
</style>
</head>
<body>
<h3>RNN Lab diagnostics</h3>
<p class="hint" id="status">No run selected. Start one with "RNN Lab: Train RNN".</p>
<script nonce="${nonce}">
  const vscode = acquireVsCodeApi();
  const status = document.getElementById('status');
  let metrics = 0, diagnostics = 0, lastStep = 0;
  // Until the charts land, say what arrives and acknowledge it (every diagnostics record, every 10th metrics record).
  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || typeof m !== 'object') return;
    if (m.type === 'metrics' && m.record && typeof m.record.step === 'number') {
      metrics++;
      lastStep = m.record.step;
      status.textContent = 'run ' + String(m.runId) + ': step ' + m.record.step + ', loss ' + Number(m.record.loss).toFixed(4);
      if (metrics % 10 === 1) vscode.postMessage({ type: 'received', metrics, diagnostics, lastStep });
    } else if (m.type === 'diagnostics') {
      diagnostics++;
      vscode.postMessage({ type: 'received', metrics, diagnostics, lastStep });
    }
  });
  vscode.postMessage({ type: 'ready' });
</script>
</body>
</html>`;
}
