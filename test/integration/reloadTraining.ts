// A window reload in the middle of a training run (Node host: code-server writes the real disk, so
// the run folder outlives the page). The workbench runs this bundle after every page load, so the
// test has two phases, told apart by a marker file it writes into the workspace before reloading.
//   1. Train a tiny LSTM with a checkpoint every 0.3 s; once one is on disk and the run still
//      trains, write the marker and reload the window (the extension host and its worker die).
//   2. Once the old host has let go of its files, the run is listed as stopped with its last
//      checkpoint ("stopped at step N; checkpoint at step M"); Resume Run continues it, and its
//      losses from step M+1 on equal those of a run trained straight through, bit for bit.
// Run by runNode.mjs (reloadTrainingPass).
import { runMocha } from './suite/setup';
import * as assert from 'assert';
import * as vscode from 'vscode';
import type { MetricsRecord } from '../../src/protocol/config';
import { readRecordChunks, runFiles, runPath } from '../../src/runFolder/runFolder';
import { activateExtension, waitFor } from './suite/helpers';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const config = { data: 'tiny.txt', cell: 'lstm', hidden: 8, seqLength: 8, batch: 2, dropout: 0.1, steps: 1_000_000, checkpointSeconds: 0.3, diagEvery: 0, evalEvery: 0, seed: 11, optimizer: 'adam' };

describe('RNN Lab: a window reload while a run trains', () => {
  it('the run is listed as stopped with its last checkpoint; Resume Run continues it bit for bit', async function () {
    this.timeout(300_000);
    const api = await activateExtension();
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const marker = vscode.Uri.joinPath(folder, 'reload-training.json');
    // The interrupted run is configured far longer than any reload takes, so it still trains when
    // the window goes; Resume and the straight run then train to the same total, `until`.
    const train = async (name: string, steps = config.steps): Promise<string> => {
      const uri = vscode.Uri.joinPath(folder, `${name}.rnn.json`);
      await vscode.workspace.fs.writeFile(uri, encoder.encode(JSON.stringify({ ...config, name, steps })));
      const runId = await vscode.commands.executeCommand<string>('rnnLab.train', uri);
      assert.ok(runId, api.errors.at(-1));
      return runId;
    };
    let phase: { runId: string } | undefined;
    try {
      phase = JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(marker)));
    } catch {
      phase = undefined;
    }
    if (!phase) {
      const runId = await train('reload-interrupted');
      const resumeFile = vscode.Uri.joinPath(api.store.runUri(runId), runFiles.resume);
      await waitFor('a checkpoint on disk while the run trains', async () => {
        try {
          await vscode.workspace.fs.stat(resumeFile);
          return true;
        } catch {
          return undefined;
        }
      }, 60_000);
      assert.ok(api.activeRuns().includes(runId), 'the run ended before the reload: the test proved nothing');
      await vscode.workspace.fs.writeFile(marker, encoder.encode(JSON.stringify({ runId })));
      console.log(`reload-training: ${runId} trains with a checkpoint on disk; reloading the window`);
      await vscode.commands.executeCommand('workbench.action.reloadWindow');
      // The extension host ends with the page: this phase never settles.
      await new Promise(() => {});
    }
    const { runId } = phase!;
    // The old extension host is shut down beside this one, and until it is gone its worker may
    // write a last record or checkpoint: meanwhile the run reads as written by another process
    // (running, and Resume refuses it). So the run's files must be quiet for 3 s first.
    const dir = api.store.runUri(runId);
    const files = async () => JSON.stringify(await Promise.all((await vscode.workspace.fs.readDirectory(dir)).map(async ([name]) => [name, (await vscode.workspace.fs.stat(vscode.Uri.joinPath(dir, name))).mtime])));
    let seen = '';
    let quietSince = Date.now();
    const listed = await waitFor(`${runId}'s files quiet and the run listed as stopped`, async () => {
      const now = await files();
      if (now !== seen) [seen, quietSince] = [now, Date.now()];
      if (Date.now() - quietSince < 3000 || api.watched.isGrowing(runId)) return undefined;
      await api.refreshRuns();
      const r = (await api.store.list()).find((x) => x.id === runId);
      return r?.status === 'stopped' ? r : undefined;
    }, 90_000);
    const step = listed.summary!.step;
    const checkpointStep = listed.summary!.checkpointStep!;
    assert.ok(checkpointStep >= 1 && checkpointStep <= step && step < config.steps, `stopped at step ${step}, checkpoint at step ${checkpointStep}`);
    const item = api.runs.getRuns().find((i) => i.id === runId);
    assert.match(item?.description ?? '', new RegExp(`stopped at step ${step.toLocaleString('en-US')}; checkpoint at step ${checkpointStep.toLocaleString('en-US')}`));

    const until = step + 200;
    const resumed = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id: runId, steps: until });
    assert.ok(resumed && resumed !== runId, `no resumed run: ${api.errors.at(-1)}`);
    const summary = await api.whenDone(resumed)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, until);
    const straight = await train('reload-straight', until);
    assert.strictEqual((await api.whenDone(straight)!).status, 'finished');
    const trace = async (id: string) =>
      (await readRecordChunks<MetricsRecord>(api.store.fs, id, runFiles.metrics)).flatMap((c) => c.records).map((r) => ({ step: r.step, loss: r.loss, gradNorm: r.gradNorm, clipped: r.clipped }));
    const got = await trace(resumed);
    const want = (await trace(straight)).filter((r) => r.step > checkpointStep);
    assert.strictEqual(got[0]?.step, checkpointStep + 1);
    assert.deepStrictEqual(got, want, 'the losses after resuming differ from the uninterrupted run');
    await vscode.workspace.fs.delete(marker);
    console.log(`reload-training: after the reload ${runId} is listed "${item!.description}"; resumed from step ${checkpointStep}, steps ${checkpointStep + 1}-${until} equal the uninterrupted run's bit for bit (${runPath(resumed, runFiles.metrics)})`);
  });
});

export function run(): Promise<void> {
  return new Promise((resolve, reject) => {
    runMocha((failures) => (failures > 0 ? reject(new Error(`${failures} reload-training test(s) failed`)) : resolve()));
  });
}
