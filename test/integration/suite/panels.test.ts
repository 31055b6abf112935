import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { DrewAck, PanelConnection } from '../../../src/extension/panelHub';
import { LM_CHARTS } from '../../../src/protocol/panel';
import { activateExtension, copyFixtureRun, screenshot, sleep, waitFor } from './helpers';

/**
 * The panels in the real workbench: the side view draws a run while it trains and says how many
 * points each chart drew; a report opens for a run, and Compare Runs overlays two.
 * (What the pixels look like is checked in Chromium by test/webview/run.mjs.)
 */
describe('RNN Lab panels: live side view, run report, comparison', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;
  let config: vscode.Uri;
  const started: string[] = [];

  const allDrawn = (d: DrewAck | undefined): boolean => !!d && LM_CHARTS.every((c) => (d.charts[c] ?? 0) > 0);
  const reports = (): PanelConnection[] => [...api.diagnostics.hub.connections].filter((c) => c.kind === 'report');

  before(async () => {
    api = await activateExtension();
    const ws = vscode.workspace.workspaceFolders?.[0];
    assert.ok(ws, 'no workspace folder open');
    folder = ws.uri;
    // Diagnostics every 5 steps, so every chart has data within seconds; steps enough that it never
    // ends by itself while the tests look at it (5,000 ran out in the Node host). The web host's file
    // system is in memory: this file never reaches the fixture folder.
    config = vscode.Uri.joinPath(folder, 'panels.rnn.json');
    const cfg = { name: 'panels-lstm', data: 'tiny.txt', cell: 'lstm', layers: 2, hidden: 12, seqLength: 12, batch: 2, steps: 1_000_000, lr: 0.01, diagEvery: 5, spectrumEvery: 5, evalEvery: 10, clip: 0.5, seed: 4 };
    await vscode.workspace.fs.writeFile(config, new TextEncoder().encode(JSON.stringify(cfg)));
  });

  after(async () => {
    await vscode.commands.executeCommand('rnnLab.stopTraining');
    for (const id of started) await api.whenDone(id);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(config).then(undefined, () => undefined);
  });

  it('the side view draws every chart of a run while it trains, and acknowledges the points drawn', async () => {
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await vscode.commands.executeCommand('rnnLab.diagnostics.focus');
    await waitFor('the Diagnostics view to be ready', () => (api.diagnostics.timesReady > 0 ? true : undefined));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', config);
    assert.ok(runId, 'no run id');
    started.push(runId);
    // "The running one by default": the view switches to the new run by itself.
    const ack = await waitFor(
      'the side view to draw every chart of the new run',
      () => {
        const d = api.diagnostics.lastDrew;
        return d && d.runIds[0] === runId && d.lastStep >= 10 && allDrawn(d) ? d : undefined;
      },
      60_000,
    );
    assert.deepStrictEqual(api.activeRuns(), [runId], 'the run should still be training while the view draws it');
    assert.deepStrictEqual(api.diagnostics.rejected, [], 'the webview sent messages that failed validation');
    // Line charts get at least one point per step shown so far (decimation only starts past the pixel width).
    for (const c of ['loss', 'gradNorm'] as const) assert.ok(ack.charts[c]! >= ack.lastStep, `${c}: ${ack.charts[c]} points for ${ack.lastStep} steps`);
    // 2 layers x 4 gates x 12 units in the saturation scatter.
    assert.strictEqual(ack.charts.scatter, 2 * 4 * 12, `scatter: ${ack.charts.scatter} units`);
    // Spectrum: 2 layers x 5 blocks (i, f, g, o, all) x 12 singular values.
    assert.strictEqual(ack.charts.spectrum, 2 * 5 * 12, `spectrum: ${ack.charts.spectrum} values`);
    console.log(`side view drew, at step ${ack.lastStep}: ${LM_CHARTS.map((c) => `${c} ${ack.charts[c]}`).join(', ')}`);
    // Live: later records keep arriving and are drawn.
    const later = await waitFor('a later step drawn', () => {
      const d = api.diagnostics.lastDrew;
      return d && d.lastStep > ack.lastStep + 5 ? d : undefined;
    });
    assert.ok(later.charts.loss! > ack.charts.loss!);
    await screenshot('panels-side-view-training');
  });

  it('a hidden side view gets nothing, and is brought up to date when shown again', async () => {
    const runId = started[0];
    await vscode.commands.executeCommand('workbench.view.explorer');
    const hiddenAt = api.diagnostics.lastDrew!.lastStep;
    // Train on while hidden, then stop: the final steps were never posted to the view.
    await sleep(1500);
    await vscode.commands.executeCommand('rnnLab.stopTraining');
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'stopped');
    assert.ok(summary.step > hiddenAt, `the run did not train on while the view was hidden (${hiddenAt} -> ${summary.step})`);
    assert.ok(api.diagnostics.lastDrew!.lastStep < summary.step, 'the hidden view drew the final step');
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await vscode.commands.executeCommand('rnnLab.diagnostics.focus');
    const d = await waitFor('the side view to redraw the run up to its last step after being shown again', () => {
      const a = api.diagnostics.lastDrew;
      return a && a.runIds[0] === runId && a.lastStep === summary.step && allDrawn(a) ? a : undefined;
    });
    console.log(`side view hidden at step ${hiddenAt}; the run stopped at ${summary.step}; shown again, it drew up to step ${d.lastStep}`);
  });

  it('Open Run Report shows a finished run in the editor area', async () => {
    const runId = started[0];
    const before = new Set(reports());
    await vscode.commands.executeCommand('rnnLab.openReport', runId);
    const report = await waitFor('a report panel', () => reports().find((c) => !before.has(c)));
    const d = await waitFor('the report to draw every chart', () => (report.lastDrew && allDrawn(report.lastDrew) ? report.lastDrew : undefined));
    assert.deepStrictEqual(d.runIds, [runId]);
    assert.deepStrictEqual(report.rejected, []);
    await screenshot('panels-report');
  });

  it('a report of a run made by the CLI (never trained in this window) is read from its files', async () => {
    // The recorded fixture run, copied into this workspace's run store as `rnn-lab train` would leave it.
    const id = '20261123-170500-austen-lstm';
    const to = await copyFixtureRun(api, id, ['config.json', 'metrics.jsonl', 'diagnostics.jsonl', 'summary.json']);
    const before = new Set(reports());
    await vscode.commands.executeCommand('rnnLab.openReport', { id });
    const report = await waitFor('a report panel', () => reports().find((c) => !before.has(c)));
    const d = await waitFor('the report of the stored run to draw every chart', () => (report.lastDrew && allDrawn(report.lastDrew) ? report.lastDrew : undefined));
    assert.deepStrictEqual(d.runIds, [id]);
    assert.strictEqual(d.lastStep, 120);
    // 2 layers x 4 gates x 24 units.
    assert.strictEqual(d.charts.scatter, 2 * 4 * 24);
    await vscode.workspace.fs.delete(to, { recursive: true });
  });

  it('an export from the report is checked, asks where to save, and writes the file', async () => {
    const report = reports().at(-1)!;
    const rejectedBefore = report.rejected.length;
    // What a compromised page might send: refused before any dialog opens.
    await report.receive({ type: 'export', chart: '../../package.json', format: 'csv', data: 'x' });
    assert.strictEqual(report.rejected.length, rejectedBefore + 1);
    assert.match(report.rejected.at(-1)!, /unknown chart/);
    const csv = 'run,step,loss\nr,1,4.2\n';
    const target = vscode.Uri.joinPath(folder, `${report.shown[0]}-loss.csv`);
    const pending = report.receive({ type: 'export', chart: 'loss', format: 'csv', data: csv });
    // VS Code for the web asks with its simple save dialog, prefilled with <workspace>/<run>-loss.csv.
    await sleep(1000);
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
    await pending;
    assert.strictEqual(new TextDecoder().decode(await vscode.workspace.fs.readFile(target)), csv);
    await vscode.workspace.fs.delete(target);
  });

  it('Compare Runs overlays two runs (from the Runs view multi-selection)', async () => {
    const second = await vscode.commands.executeCommand<string>('rnnLab.train', vscode.Uri.joinPath(folder, 'tiny.rnn.json'));
    assert.ok(second);
    started.push(second);
    await api.whenDone(second);
    const before = new Set(reports());
    // The Runs view passes (clicked item, selected items).
    const items = [{ id: started[0] }, { id: second }];
    await vscode.commands.executeCommand('rnnLab.compareRuns', items[0], items);
    const report = await waitFor('a compare panel', () => reports().find((c) => !before.has(c)));
    const d = await waitFor('the comparison to draw both runs', () => {
      const a = report.lastDrew;
      return a && a.runIds.length === 2 && (a.charts.loss ?? 0) > 0 && (a.charts.flow ?? 0) > 0 ? a : undefined;
    });
    assert.deepStrictEqual([...d.runIds].sort(), [started[0], second].sort());
    await screenshot('panels-compare');
  });
});
