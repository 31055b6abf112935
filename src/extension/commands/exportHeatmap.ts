/**
 * RNN Lab: Export Attention Heatmap: the heatmap a panel shows (the example and the step picked in
 * it) as PNG, SVG or CSV, written atomically where the user picks. Programmatic (tests):
 * executeCommand('rnnLab.exportHeatmap', format, targetUri) skips both prompts.
 */
import * as vscode from 'vscode';
import type { PanelExportFormat } from '../../protocol/panel';
import { errorText } from '../feedback';
import type { PanelConnection } from '../panelHub';
import { exportBytes } from '../panelMessages';
import type { Services } from '../services';

const FORMATS: readonly PanelExportFormat[] = ['png', 'svg', 'csv'];

/**
 * Writes `bytes` to `target` through a temporary file beside it and a rename, so the target holds
 * either its old content or all of the new one, never a part.
 */
export async function writeExport(target: vscode.Uri, bytes: Uint8Array): Promise<void> {
  const temp = target.with({ path: `${target.path}.rnnlab-tmp` });
  await vscode.workspace.fs.writeFile(temp, bytes);
  try {
    await vscode.workspace.fs.rename(temp, target, { overwrite: true });
  } catch (e) {
    await vscode.workspace.fs.delete(temp).then(undefined, () => undefined);
    throw e;
  }
}

/** The panels to export from, in order: visible reports first (the one the user looks at), then the visible side view. */
function exportingPanels(connections: Iterable<PanelConnection>): PanelConnection[] {
  const ready = [...connections].filter((c) => c.ready && c.isShowing);
  return [...ready.filter((c) => c.kind === 'report'), ...ready.filter((c) => c.kind !== 'report')];
}

export function registerExportHeatmap(s: Services): void {
  const { feedback } = s;
  const hub = s.diagnostics.hub;
  const exportHeatmap = async (formatArg?: unknown, targetArg?: unknown): Promise<string | undefined> => {
    const panels = exportingPanels(hub.connections);
    if (panels.length === 0) {
      void feedback.error('RNN Lab: no panel shows an attention heatmap. Open the Diagnostics view or a run report of a seq2seq run, then export again.');
      return undefined;
    }
    let format = formatArg;
    if (format === undefined) {
      const picked = await vscode.window.showQuickPick(
        FORMATS.map((f) => ({ label: f.toUpperCase(), format: f })),
        { title: 'Export the attention heatmap as' },
      );
      if (!picked) return undefined;
      format = picked.format;
    }
    if (!FORMATS.includes(format as PanelExportFormat)) {
      void feedback.error(`RNN Lab: cannot export the heatmap as ${JSON.stringify(format)}: the format must be png, svg or csv.`);
      return undefined;
    }
    const fmt = format as PanelExportFormat;
    // The first panel that shows a heatmap: a visible report of a language model has none.
    let data: string | undefined;
    let panel = panels[0];
    let failure: unknown;
    for (const candidate of panels) {
      try {
        data = await candidate.requestExport('attention', fmt);
        panel = candidate;
        break;
      } catch (e) {
        failure ??= e;
      }
    }
    if (data === undefined) {
      void feedback.error(`RNN Lab: could not export the heatmap: ${errorText(failure)}.`);
      return undefined;
    }
    let target = targetArg instanceof vscode.Uri ? targetArg : undefined;
    if (!target) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const base = `${panel.shown[0] ?? 'run'}-attention.${fmt}`;
      target = await vscode.window.showSaveDialog({
        title: `Export the attention heatmap as ${fmt.toUpperCase()}`,
        defaultUri: folder ? vscode.Uri.joinPath(folder, base) : undefined,
        filters: { [fmt.toUpperCase()]: [fmt] },
      });
      if (!target) return undefined;
    }
    try {
      await writeExport(target, exportBytes(fmt, data));
    } catch (e) {
      void feedback.error(`RNN Lab: could not write ${target.fsPath}: ${errorText(e)}. Pick another place.`);
      return undefined;
    }
    feedback.log(`attention heatmap exported to ${target.toString(true)}`);
    return target.toString();
  };
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.exportHeatmap', exportHeatmap));
}
