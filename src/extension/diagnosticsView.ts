import * as vscode from 'vscode';
import { PanelConnection, PanelHub, panelHtml, panelResourceRoots, type DrewAck } from './panelHub';
import type { RunStore } from './runStore';

/**
 * The "Diagnostics" webview view in the RNN Lab container: every chart of one run (the running
 * one by default, or the one picked in the view), live while it trains. The page is the panels'
 * bundle (webview/main.ts) in side mode; it says 'ready', then gets the run list, the run's
 * buffered records and live records, and acknowledges what it drew.
 */
export class DiagnosticsViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'rnnLab.diagnostics';

  /** Shared with the report panels: live buffers and the run store's runs. */
  readonly hub: PanelHub;
  private view: vscode.WebviewView | undefined;
  private connection: PanelConnection | undefined;
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  /** Fires each time the webview's page has loaded and its script has run. */
  readonly onDidBecomeReady = this.readyEmitter.event;
  private readyCount = 0;
  /** The run the view shows; kept across page reloads (the view re-creates its page when shown again). */
  private shown: string[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    store?: RunStore,
  ) {
    this.hub = new PanelHub(store);
    // A new run takes over the view: "the running one by default".
    this.hub.onRunStarted((id) => {
      if (!this.hub.isLive(id)) return;
      this.shown = [id];
      void this.connection?.show(this.shown);
    });
  }

  /** How many times the webview page reported ready (it reloads when the view is re-created). */
  get timesReady(): number {
    return this.readyCount;
  }

  get isResolved(): boolean {
    return this.view !== undefined;
  }

  /** The webview's latest acknowledgement of what it received (tests read it; the DOM is out of reach). */
  get lastAck(): { metrics: number; diagnostics: number; lastStep: number; evals?: number } | undefined {
    return this.connection?.lastAck;
  }

  /** The webview's latest report of what it drew: points per chart. */
  get lastDrew(): DrewAck | undefined {
    return this.connection?.lastDrew;
  }

  get shownRuns(): readonly string[] {
    return this.connection?.shown ?? this.shown;
  }

  /** Messages from the webview that failed validation. */
  get rejected(): readonly string[] {
    return this.connection?.rejected ?? [];
  }

  get isVisible(): boolean {
    return this.view?.visible ?? false;
  }

  /**
   * Opens the RNN Lab container on this view, leaving the focus where it is (the editor the user
   * trained from). Which run it shows is onRunStarted's business: a run that starts takes it over.
   */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${DiagnosticsViewProvider.viewId}.focus`, { preserveFocus: true });
  }

  /** Shows a run in the view (the Runs view's selection, tests). */
  async showRun(id: string): Promise<void> {
    this.shown = [id];
    await this.connection?.show(this.shown);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true, localResourceRoots: panelResourceRoots(this.extensionUri) };
    this.connection?.dispose();
    const connection = new PanelConnection('side', this.hub, view.webview, () => view.visible, this.shown, (ids) => (this.shown = ids));
    this.connection = connection;
    connection.onDidBecomeReady(() => {
      this.readyCount++;
      this.readyEmitter.fire();
    });
    view.onDidChangeVisibility(() => connection.visibilityChanged());
    view.onDidDispose(() => {
      this.shown = connection.shown;
      connection.dispose();
      if (this.connection === connection) this.connection = undefined;
      this.view = undefined;
    });
    view.webview.html = panelHtml(view.webview, this.extensionUri, 'side');
  }
}
