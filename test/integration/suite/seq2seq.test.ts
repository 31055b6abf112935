import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { Seq2SeqEvalRecord } from '../../../src/protocol/config';
import type { PanelConnection } from '../../../src/extension/panelHub';
import { activateExtension, copyFixtureRun, screenshot, waitFor } from './helpers';

const decoder = new TextDecoder();

/**
 * A seq2seq run from a *.rnn.json config in the real host: a generated task needs no data file, its
 * held-out evaluations are kept in eval.jsonl as the CLI keeps them, the summary carries exact match
 * and token accuracy, and Resume Run continues it (no data file to read either).
 */
describe('RNN Lab: seq2seq runs', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
  });

  it('trains a generated reversal task from a config, keeps its evaluations, and resumes it', async () => {
    const config = { name: 's2s-reverse', task: 'reverse', attention: 'dot', srcLen: '3-5', embedding: 8, hidden: 16, batch: 8, steps: 20, evalEvery: 10, heldOut: 50, diagEvery: 10, checkpointEvery: 10, seed: 3 };
    const uri = vscode.Uri.joinPath(folder, 's2s-reverse.rnn.json');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(config)));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(runId, api.errors.at(-1));
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 20);
    assert.ok(typeof summary.exactMatch === 'number' && summary.exactMatch >= 0 && summary.exactMatch <= 1, `exactMatch ${summary.exactMatch}`);
    assert.ok(typeof summary.tokenAccuracy === 'number' && summary.tokenAccuracy > 0, `tokenAccuracy ${summary.tokenAccuracy}`);
    const evalText = decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'eval.jsonl')));
    const evals = evalText.trim().split('\n').map((l) => JSON.parse(l) as Seq2SeqEvalRecord);
    assert.deepStrictEqual(evals.map((e) => e.step), [10, 20]);
    assert.strictEqual(evals[1].examples, 50);
    assert.ok(evals[1].attention && evals[1].attention.length > 0, 'no pinned attention maps in the evaluation');

    const resumed = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id: runId, steps: 30 });
    assert.ok(resumed && resumed !== runId, `no resumed run: ${api.errors.at(-1)}`);
    const after = await api.whenDone(resumed)!;
    assert.strictEqual(after.status, 'finished', after.message);
    assert.strictEqual(after.step, 30);
    console.log(`seq2seq: reversal trained 20 steps in the host (exact match ${summary.exactMatch}, token accuracy ${summary.tokenAccuracy?.toFixed(3)}), resumed to 30`);
  });

  it('the side view draws the live attention heatmap and seq2seq charts; the heatmap exports as CSV, SVG and PNG', async () => {
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await vscode.commands.executeCommand('rnnLab.diagnostics.focus');
    await waitFor('the Diagnostics view to be ready', () => (api.diagnostics.timesReady > 0 ? true : undefined));
    // Steps enough that it is still training while the view draws it; stopped below.
    const config = { name: 's2s-panel', task: 'reverse', attention: 'dot', srcLen: '3-6', embedding: 16, hidden: 24, batch: 16, steps: 1_000_000, evalEvery: 10, heldOut: 40, diagEvery: 10, seed: 7 };
    const uri = vscode.Uri.joinPath(folder, 's2s-panel.rnn.json');
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(config)));
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(runId, api.errors.at(-1));
    try {
      const d = await waitFor(
        'the side view to draw the heatmap, the seq2seq metrics and the encoder flow of the training run',
        () => {
          const a = api.diagnostics.lastDrew;
          return a && a.runIds[0] === runId && (a.charts.attention ?? 0) > 0 && (a.charts.s2sMetrics ?? 0) > 0 && (a.charts.encoderFlow ?? 0) > 0 && (a.charts.byLength ?? 0) > 0 ? a : undefined;
        },
        90_000,
      );
      assert.deepStrictEqual(api.activeRuns(), [runId], 'the run should still be training while the view draws its heatmap');
      assert.deepStrictEqual(api.diagnostics.rejected, [], 'the webview sent messages that failed validation');
      const ack = await waitFor('the view to acknowledge eval records', () => ((api.diagnostics.lastAck?.evals ?? 0) > 0 ? api.diagnostics.lastAck : undefined));
      // The language model's flow-through-time chart has no data for a seq2seq run: not drawn.
      assert.strictEqual(d.charts.flow, undefined, `flow chart drew ${d.charts.flow}`);
      console.log(`seq2seq side view at step ${d.lastStep}: heatmap ${d.charts.attention} cells, metrics ${d.charts.s2sMetrics} points, by length ${d.charts.byLength} bars, encoder flow ${d.charts.encoderFlow} points; ${ack!.evals} eval records received`);
      await screenshot('seq2seq-side-view-heatmap');
    } finally {
      await vscode.commands.executeCommand('rnnLab.stopTraining');
      await api.whenDone(runId);
    }
    // Export: the command asks the view for the heatmap it shows and writes each file where it is told.
    const written: Record<string, Uint8Array> = {};
    for (const format of ['csv', 'svg', 'png']) {
      const target = vscode.Uri.joinPath(folder, `s2s-heatmap.${format}`);
      const result = await vscode.commands.executeCommand<string>('rnnLab.exportHeatmap', format, target);
      assert.strictEqual(result, target.toString(), `export ${format}: ${api.errors.at(-1)}`);
      written[format] = await vscode.workspace.fs.readFile(target);
      await vscode.workspace.fs.delete(target);
    }
    const csv = decoder.decode(written.csv).trim().split('\n');
    const rows = csv.slice(1).map((l) => l.split(',').slice(1).map(Number));
    const cols = csv[0].split(',').length - 1;
    assert.ok(rows.length > 0 && cols >= 3 && rows.every((r) => r.length === cols && Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-6), `heatmap CSV rows are not attention rows: ${csv.slice(0, 3).join(' | ')}`);
    const cells = (decoder.decode(written.svg).match(/<rect class="cell"/g) ?? []).length;
    assert.strictEqual(cells, rows.length * cols, 'SVG cells vs CSV weights');
    const png = written.png;
    assert.deepStrictEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47], 'the PNG export is not a PNG');
    const width = new DataView(png.buffer, png.byteOffset).getUint32(16);
    assert.ok(width > 100, `PNG width ${width}`);
    console.log(`heatmap exports: CSV ${rows.length}x${cols} weights (rows sum to 1), SVG ${cells} cells, PNG ${png.length} bytes ${width} px wide`);
  });

  it('a report of a seq2seq run made by the CLI reads its eval.jsonl and draws the heatmap', async () => {
    const id = '20261207-052000-reverse-dot';
    const to = await copyFixtureRun(api, id, ['config.json', 'metrics.jsonl', 'diagnostics.jsonl', 'eval.jsonl', 'summary.json']);
    const evals = decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(to, 'eval.jsonl'))).trim().split('\n').map((l) => JSON.parse(l) as Seq2SeqEvalRecord);
    const map = evals.at(-1)!.attention[0];
    const reports = (): PanelConnection[] => [...api.diagnostics.hub.connections].filter((c) => c.kind === 'report');
    const before = new Set(reports());
    await vscode.commands.executeCommand('rnnLab.openReport', { id });
    const report = await waitFor('a report panel', () => reports().find((c) => !before.has(c)));
    const d = await waitFor('the report to draw the stored heatmap', () => ((report.lastDrew?.charts.attention ?? 0) > 0 ? report.lastDrew : undefined), 30_000);
    assert.strictEqual(d.charts.attention, map.weights.length * map.source.length, 'heatmap cells of the last evaluation');
    assert.strictEqual(d.charts.byLength, 2 * evals.at(-1)!.byLength.length);
    assert.strictEqual(report.lastAck?.evals, evals.length);
    await screenshot('seq2seq-report-heatmap');
    // The export command takes the visible report over the side view.
    const target = vscode.Uri.joinPath(folder, 'stored-heatmap.csv');
    assert.strictEqual(await vscode.commands.executeCommand<string>('rnnLab.exportHeatmap', 'csv', target), target.toString());
    const csv = decoder.decode(await vscode.workspace.fs.readFile(target)).trim().split('\n');
    assert.deepStrictEqual(csv.slice(1).map((l) => l.split(',').slice(1).map(Number)), map.weights);
    await vscode.workspace.fs.delete(target);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(to, { recursive: true });
  });
});
