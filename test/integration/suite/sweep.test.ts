import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { RunItem } from '../../../src/extension/runsTree';
import { readSweepRow } from '../../../src/runFolder/sweepTable';
import { activateExtension, screenshot, waitFor } from './helpers';

const decoder = new TextDecoder();

/**
 * A sweep config in the real host: Train RNN starts its grid as separate runs, at most
 * rnnLab.sweepConcurrency at once and the rest queued; the Runs view lists them under one node
 * labelled with their values; every run folder is an ordinary run with a sweep.json; Stop Sweep
 * stops the training run and drops the queue; Open Sweep Report overlays the runs.
 */
describe('RNN Lab: sweeps', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;
  const settings = () => vscode.workspace.getConfiguration('rnnLab');

  before(async () => {
    api = await activateExtension();
    folder = vscode.workspace.workspaceFolders![0].uri;
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(folder, 'sweep.txt'), new TextEncoder().encode('the quick brown fox jumps over the lazy dog. '.repeat(60)));
    await settings().update('sweepConcurrency', 2, vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await settings().update('sweepConcurrency', undefined, vscode.ConfigurationTarget.Global);
  });

  const writeConfig = async (name: string, config: object): Promise<vscode.Uri> => {
    const uri = vscode.Uri.joinPath(folder, `${name}.rnn.json`);
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(JSON.stringify(config)));
    return uri;
  };
  const sweepNode = async (sweepId: string): Promise<RunItem> => {
    await api.refreshRuns();
    const node = api.runs.getRuns().find((r) => r.sweepId === sweepId);
    assert.ok(node, `no sweep node ${sweepId} in ${api.runs.getRuns().map((r) => r.id).join(', ')}`);
    return node;
  };

  it('a 2x2 sweep at concurrency 2: queued, grouped under one node, finished, each run an ordinary run folder', async () => {
    const uri = await writeConfig('grid', { name: 'grid', data: 'sweep.txt', hidden: 8, batch: 2, seqLength: 10, steps: 40, evalEvery: 20, diagEvery: 0, sweep: { cell: ['rnn', 'gru'], lr: [0.01, 0.003] } });
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, api.activeRuns().length)), 10);
    const sweepId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(sweepId, api.errors.at(-1));
    // Two runs are starting; the other two wait.
    const early = await sweepNode(sweepId);
    const queued = early.children!.filter((c) => c.status === 'queued');
    assert.strictEqual(queued.length, 2, early.children!.map((c) => `${c.label}: ${c.status}`).join('; '));
    assert.deepStrictEqual(queued.map((c) => c.label), ['cell=gru lr=0.01', 'cell=gru lr=0.003']);
    assert.match(early.description!, /2 queued/);
    assert.strictEqual(early.status, 'sweep.running');

    const ids = await api.whenSweepDone(sweepId)!;
    clearInterval(watch);
    assert.strictEqual(ids.length, 4);
    assert.ok(most <= 2, `${most} runs trained at once at concurrency 2`);
    const summaries = await Promise.all(ids.map((id) => api.whenDone(id)!));
    assert.deepStrictEqual(summaries.map((s) => s.status), ['finished', 'finished', 'finished', 'finished']);

    const done = await sweepNode(sweepId);
    assert.strictEqual(done.label, 'grid');
    assert.strictEqual(done.description, '4 of 4 done');
    assert.strictEqual(done.status, 'sweep');
    assert.deepStrictEqual(done.children!.map((c) => c.label), ['cell=rnn lr=0.01', 'cell=rnn lr=0.003', 'cell=gru lr=0.01', 'cell=gru lr=0.003']);
    assert.ok(done.children!.every((c) => c.status === 'finished' && ids.includes(c.id)));
    await vscode.commands.executeCommand('rnnLab.runs.focus');
    await new Promise((r) => setTimeout(r, 500));
    await screenshot('sweep-runs-view');
    // Not listed on their own beside the node.
    assert.ok(!api.runs.getRuns().some((r) => ids.includes(r.id)));

    // Ordinary run folders: config.json holds the values (no "sweep"), sweep.json the membership.
    const stored = (await api.store.list()).filter((r) => r.sweep?.id === sweepId);
    assert.strictEqual(stored.length, 4);
    for (const r of stored) {
      const config = JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(r.uri, 'config.json'))));
      assert.strictEqual(config.cell, r.sweep!.values.cell);
      assert.strictEqual(config.lr, r.sweep!.values.lr);
      assert.ok(!('sweep' in config));
      assert.strictEqual(r.sweep!.total, 4);
      // The table row the report shows: final loss and best validation loss from the run's records.
      const row = await readSweepRow(api.store.fs, { id: r.id, sweep: r.sweep!, status: r.status, summary: r.summary });
      assert.strictEqual(row.steps, 40);
      assert.ok(row.finalLoss !== undefined && row.finalLoss > 0 && row.finalLoss < 5, `final loss ${row.finalLoss}`);
      assert.ok(row.bestValLoss !== undefined && row.bestValLoss > 0, `best val loss ${row.bestValLoss}`);
    }
    // Other commands take a sweep's run as any run.
    const sample = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId: ids[0], length: 20, temperature: 0.5, prime: 'the ' });
    assert.ok(typeof sample === 'string' && sample.length > 0, api.errors.at(-1));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');

    const opened = await vscode.commands.executeCommand<string>('rnnLab.openSweepReport', { sweepId });
    assert.strictEqual(opened, sweepId);
    const labels = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label));
    for (let i = 0; i < 100 && !labels().includes('Sweep: grid'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(labels().includes('Sweep: grid'), labels().join(', '));
    // Time for the page to load the four runs and the table before the picture.
    await new Promise((r) => setTimeout(r, 3000));
    await screenshot('sweep-report');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Stop Sweep stops its training run and drops the queued ones; the node counts them as not started', async () => {
    await settings().update('sweepConcurrency', 1, vscode.ConfigurationTarget.Global);
    const uri = await writeConfig('long', { name: 'long', data: 'sweep.txt', hidden: 8, batch: 2, seqLength: 10, steps: 1_000_000, evalEvery: 0, diagEvery: 0, sweep: { seed: [1, 2, 3] } });
    const sweepId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(sweepId, api.errors.at(-1));
    // Wait until its first run trains.
    for (let i = 0; i < 600 && api.activeRuns().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const running = await sweepNode(sweepId);
    assert.match(running.description!, /0 of 3 done · 1 training · 2 queued/);
    await vscode.commands.executeCommand('rnnLab.stopSweep', running);
    const ids = await api.whenSweepDone(sweepId)!;
    assert.strictEqual(ids.length, 1);
    assert.strictEqual((await api.whenDone(ids[0])!).status, 'stopped');
    const stopped = await sweepNode(sweepId);
    assert.strictEqual(stopped.description, '0 of 3 done · 1 stopped · 2 not started');
    assert.strictEqual(stopped.status, 'sweep.unfinished');
    assert.strictEqual(stopped.children!.length, 1);
    assert.strictEqual(api.activeRuns().length, 0);
    await settings().update('sweepConcurrency', 2, vscode.ConfigurationTarget.Global);
  });

  it('Continue Sweep after a stop: the stopped run resumes from its checkpoint and the ones never started start, all in the same sweep', async function () {
    this.timeout(240_000);
    await settings().update('sweepConcurrency', 1, vscode.ConfigurationTarget.Global);
    // Big enough that a run takes seconds, so the first is stopped well before its end.
    const steps = 1500;
    const uri = await writeConfig('again', { name: 'again', data: 'sweep.txt', hidden: 32, batch: 4, seqLength: 16, steps, checkpointEvery: 50, evalEvery: 0, diagEvery: 0, sweep: { seed: [1, 2, 3] } });
    const sweepId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.ok(sweepId, api.errors.at(-1));
    // Stopped once past its first checkpoint.
    await waitFor('the first run past step 60', () => (api.activeRuns().some((id) => (api.lastMetrics(id)?.step ?? 0) >= 60) ? true : undefined), 60_000);
    await vscode.commands.executeCommand('rnnLab.stopSweep', await sweepNode(sweepId));
    const first = await api.whenSweepDone(sweepId)!;
    const stoppedAt = (await api.whenDone(first[0])!).step;
    assert.ok(stoppedAt >= 60 && stoppedAt < steps, `the first run stopped at step ${stoppedAt} of ${steps}`);
    const halted = await sweepNode(sweepId);
    assert.strictEqual(halted.status, 'sweep.unfinished', halted.description);

    const continued = await vscode.commands.executeCommand<string>('rnnLab.continueSweep', halted);
    assert.strictEqual(continued, sweepId, api.errors.at(-1));
    const ids = await api.whenSweepDone(sweepId)!;
    assert.strictEqual(ids.length, 3, ids.join(', '));
    const summaries = await Promise.all(ids.map((id) => api.whenDone(id)!));
    assert.deepStrictEqual(summaries.map((x) => [x.status, x.step]), [['finished', steps], ['finished', steps], ['finished', steps]]);
    const done = await sweepNode(sweepId);
    assert.strictEqual(done.description, '3 of 3 done');
    assert.strictEqual(done.status, 'sweep');
    // Grid point 0: the stopped run, then its resumption, listed together under the sweep.
    assert.deepStrictEqual(done.children!.map((c) => c.label), ['seed=1', 'seed=1', 'seed=2', 'seed=3']);
    const stored = (await api.store.list()).filter((r) => r.sweep?.id === sweepId);
    assert.strictEqual(stored.length, 4);
    const resumed = stored.find((r) => r.id === ids[0])!;
    assert.strictEqual(resumed.sweep!.index, 0);
    const records = decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(resumed.uri, 'metrics.jsonl'))).trim().split('\n');
    const firstStep = JSON.parse(records[0]).step;
    // From the stopped run's last checkpoint (written as it stopped), or from step 1 if it stopped before its first step.
    assert.strictEqual(firstStep, stoppedAt + 1, `stopped at ${stoppedAt}, resumed at ${firstStep}`);
    console.log(`continue sweep: the stopped run (step ${stoppedAt}) resumed at step ${firstStep}; 2 runs never started started; 3 of 3 finished`);

    // Nothing left: one message, nothing queued.
    const before = api.errors.length;
    assert.strictEqual(await vscode.commands.executeCommand<string>('rnnLab.continueSweep', done), undefined);
    assert.strictEqual(api.errors.length, before);
    assert.ok(!api.activeRuns().length);
    await settings().update('sweepConcurrency', 2, vscode.ConfigurationTarget.Global);
  });

  it('a bad sweep is one error naming the key and starts nothing', async () => {
    const before = api.errors.length;
    const runsBefore = (await api.store.list()).length;
    const uri = await writeConfig('bad-sweep', { data: 'sweep.txt', sweep: { scale: [0.5, 1] } });
    const id = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
    assert.strictEqual(id, undefined);
    assert.strictEqual(api.errors.length, before + 1);
    assert.match(api.errors.at(-1)!, /bad-sweep\.rnn\.json: .*"sweep" has unknown field "scale" \(did you mean "hiddenScale"\?\)/);
    assert.strictEqual((await api.store.list()).length, runsBefore);
  });
});
