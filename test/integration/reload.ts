// A run report survives a window reload: the workbench restores the panel, the extension's
// serializer reopens it from the state its webview saved, and it draws the same run again. So
// does a sweep's report, with its title and its table (the page saved the sweep's id).
// Run by run.mjs in VS Code for the web, in a folder of its own that holds one recorded run.
// The workbench runs this bundle after every page load, so the test has two phases. The
// workspace's files do not outlive the page (the web host keeps writes in memory), so the phase
// is told by a file the runner writes to disk: the screenshot taken right before the reload.
import { runMocha } from './suite/setup';
import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../src/extension/extension';
import type { PanelConnection } from '../../src/extension/panelHub';
import { LM_CHARTS } from '../../src/protocol/panel';
import { activateExtension, screenshot, screenshotExists, waitFor } from './suite/helpers';

/** The recorded run that run.mjs copies into the folder's run store, and the sweep it makes of two more. */
const RUN_ID = '20261123-170500-austen-lstm';
const SWEEP_ID = '20261123-170501-cells';
const SWEEP_RUNS = ['20261123-170501-cells-lstm', '20261123-170501-cells-rnn'];
/** Screenshots of the pass; run.mjs deletes the first before it starts and checks both after. */
export const BEFORE = 'report-before-reload';
export const AFTER = 'report-restored-after-reload';

const reports = (api: RnnLabApi): PanelConnection[] => [...api.diagnostics.hub.connections].filter((c) => c.kind === 'report');
const drewAll = (c: PanelConnection): boolean => !!c.lastDrew && LM_CHARTS.every((chart) => (c.lastDrew!.charts[chart] ?? 0) > 0);

describe('RNN Lab across a window reload', () => {
  it('an open run report is restored after the reload and draws the same run', async function () {
    this.timeout(120_000);
    const api = await activateExtension();
    if (!(await screenshotExists(BEFORE))) {
      assert.deepStrictEqual(reports(api).length, 0, 'a report is open before the test opened one');
      await vscode.commands.executeCommand('rnnLab.openReport', { id: RUN_ID });
      const report = await waitFor('the report to draw every chart', () => reports(api).find(drewAll));
      assert.deepStrictEqual(report.lastDrew!.runIds, [RUN_ID]);
      assert.strictEqual(await vscode.commands.executeCommand('rnnLab.openSweepReport', { sweepId: SWEEP_ID }), SWEEP_ID);
      await waitFor("the sweep's report to draw both runs", () => reports(api).find((c) => drewAll(c) && c.lastDrew!.runIds.length === 2));
      // Beside the run report, so that both are visible (a hidden webview is not loaded) after the reload.
      await vscode.commands.executeCommand('workbench.action.moveEditorToNextGroup');
      // Time for the page to get its table and save the sweep's id.
      await new Promise((r) => setTimeout(r, 1500));
      await screenshot(BEFORE);
      console.log('reload: the report is open; reloading the window');
      // The page reloads and this extension host ends: the test never settles in this phase.
      await vscode.commands.executeCommand('workbench.action.reloadWindow');
      await new Promise(() => {});
    }
    // Nothing opens a report in this phase: only the workbench's restore and our serializer can.
    const report = await waitFor('the restored report to draw every chart', () => reports(api).find((c) => drewAll(c) && c.lastDrew!.runIds.includes(RUN_ID)), 60_000);
    assert.deepStrictEqual(report.lastDrew!.runIds, [RUN_ID]);
    assert.strictEqual(report.lastDrew!.lastStep, 120);
    assert.deepStrictEqual(report.rejected, []);
    const sweep = await waitFor("the restored sweep's report to draw both runs", () => reports(api).find((c) => drewAll(c) && c.lastDrew!.runIds.length === 2), 60_000);
    assert.deepStrictEqual([...sweep.lastDrew!.runIds].sort(), SWEEP_RUNS);
    const labels = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label));
    await waitFor('the sweep report to be titled by the serializer from its saved sweep id', () => labels().includes('Sweep: cells') || undefined, 20_000);
    assert.strictEqual(reports(api).length, 2, `${reports(api).length} reports after the reload`);
    await screenshot(AFTER);
  });
});

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => (failures > 0 ? reject(new Error(`${failures} reload test(s) failed`)) : resolve()));
  });
}
