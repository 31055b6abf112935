import * as vscode from 'vscode';
import { isRunId } from './panelMessages';
import { PanelConnection, panelHtml, panelResourceRoots, type PanelHub } from './panelHub';
import { idsIn, type RunPicker } from './runPicker';
import type { RunStore } from './runStore';
import { feedSweepTable, isSweepId, sweepRuns } from './sweepReport';

export const REPORT_VIEW_TYPE = 'rnnLab.report';
/** The most runs one report overlays. */
export const MAX_REPORT_RUNS = 16;

/** One report: a WebviewPanel in the editor area showing one run, or several overlaid. */
export class ReportPanel implements vscode.Disposable {
  readonly connection: PanelConnection;

  constructor(
    readonly panel: vscode.WebviewPanel,
    hub: PanelHub,
    extensionUri: vscode.Uri,
    runIds: string[],
    private readonly onDispose: (r: ReportPanel) => void,
  ) {
    panel.webview.options = { enableScripts: true, localResourceRoots: panelResourceRoots(extensionUri) };
    this.connection = new PanelConnection('report', hub, panel.webview, () => panel.visible, runIds, (ids) => this.retitle(ids));
    this.retitle(runIds);
    panel.onDidChangeViewState(() => this.connection.visibilityChanged());
    panel.onDidDispose(() => this.dispose());
    panel.webview.html = panelHtml(panel.webview, extensionUri, 'report');
  }

  private retitle(ids: string[]): void {
    this.panel.title = ids.length === 1 ? `Report: ${ids[0].replace(/^\d{8}-\d{6}-/, '')}` : `Compare ${ids.length} runs`;
  }

  get runIds(): readonly string[] {
    return this.connection.shown;
  }

  async show(ids: string[]): Promise<void> {
    this.retitle(ids);
    await this.connection.show(ids);
  }

  dispose(): void {
    this.connection.dispose();
    this.onDispose(this);
  }
}

/**
 * Registers the report: "Open Run Report" (one run) and "Compare Runs" (several, overlaid), and the
 * serializer that restores open reports after a reload from the state the webview saved
 * (vscode.setState: the runs shown, x axis, smoothing, log axis).
 */
export function registerReportPanel(context: vscode.ExtensionContext, hub: PanelHub, store: RunStore, picker: RunPicker): { readonly panels: ReadonlySet<ReportPanel>; open(ids: string[]): Promise<ReportPanel | undefined> } {
  const panels = new Set<ReportPanel>();
  const make = (panel: vscode.WebviewPanel, ids: string[]): ReportPanel => {
    const r = new ReportPanel(panel, hub, context.extensionUri, ids, (p) => panels.delete(p));
    panels.add(r);
    return r;
  };

  const open = async (ids: string[]): Promise<ReportPanel | undefined> => {
    const known = new Set((await picker.list()).map((r) => r.id));
    const unknown = ids.filter((id) => !known.has(id) && !hub.isLive(id));
    if (unknown.length) {
      void vscode.window.showErrorMessage(`RNN Lab: no run ${unknown.join(', ')} in ${store.root.fsPath || store.root.path}. Pick one from the Runs view.`);
      return undefined;
    }
    const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, 'RNN Lab report', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: panelResourceRoots(context.extensionUri),
    });
    return make(panel, ids);
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('rnnLab.openReport', async (...args: unknown[]) => {
      // From the Runs view: (clicked item, selected items); only the clicked one.
      let ids = idsIn(args.slice(0, 1));
      if (!ids.length) {
        const run = await picker.pick(undefined, 'RNN Lab: open the report of which run?');
        ids = run ? [run.id] : [];
      }
      return ids.length ? (await open(ids.slice(0, 1)))?.runIds.join(',') : undefined;
    }),
    vscode.commands.registerCommand('rnnLab.compareRuns', async (...args: unknown[]) => {
      let ids = idsIn(args);
      if (ids.length < 2) ids = [...new Set([...ids, ...(await picker.pickMany('RNN Lab: runs to compare (overlaid)')).map((r) => r.id)])];
      if (!ids.length) return undefined;
      return (await open(ids.slice(0, MAX_REPORT_RUNS)))?.runIds.join(',');
    }),
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
        // The state was written by the webview: untrusted, checked like any message.
        const { shown, sweep } = (state ?? {}) as { shown?: unknown; sweep?: unknown };
        const ids = Array.isArray(shown) ? shown.filter(isRunId).slice(0, MAX_REPORT_RUNS) : [];
        make(panel, ids);
        // A sweep's report gets its table again, and its title.
        if (isSweepId(sweep)) {
          const runs = await sweepRuns(store, sweep);
          if (runs.length) {
            panel.title = `Sweep: ${runs[0].sweep!.name}`;
            feedSweepTable(panel, store, sweep, (m) => console.warn(`RNN Lab: ${m}`));
          }
        }
      },
    }),
    { dispose: () => panels.forEach((p) => p.panel.dispose()) },
  );
  return { panels, open };
}
