import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { DiagnosticsRecord, MetricsRecord } from '../../../src/protocol/config';
import { PanelHub } from '../../../src/extension/panelHub';
import { WatchedRuns } from '../../../src/extension/watchedRuns';
import { activateExtension, hostKind, percentiles, sleep, waitFor } from './helpers';

/**
 * A run folder written by another process (train.py of an exported PyTorch project, or any
 * script with rnnlab_logger.py) shows live: an outside writer puts config.json in the run store,
 * then appends a metrics and a diagnostics record every 150 ms. In the Node host the writer is a
 * real child process (node, appending with node:fs); in the web host, which cannot start one, the
 * test itself writes through workspace.fs. The Runs view must list the run as running, the
 * Diagnostics view draw its records as they come (the delay from a record written to it drawn is
 * printed), and the run be listed as stopped once the files stop growing.
 */
const H = 4;
const STEPS = 40;

function metrics(step: number): MetricsRecord {
  const loss = 4 * Math.exp(-step / 30) + 0.1;
  return {
    type: 'metrics', step, loss, bpc: loss / Math.LN2, gradNorm: 1 / step + 0.5, gradNormClipped: Math.min(1 / step + 0.5, 1), clipped: step === 1, clipFraction: 1 / step,
    lr: 0.01, seen: step * 64, charsPerSec: 1000, elapsedMs: step * 150, sigma1: { '0.i': 1 + step / 100, '0.f': 1.1, '0.g': 1.2, '0.o': 0.9, '0.all': 2 },
    paramGradNorms: { weight_ih_l0: 0.1, weight_hh_l0: 0.2, bias_ih_l0: 0.05, bias_hh_l0: 0.05, 'head.weight': 0.3, 'head.bias': 0.1 },
  };
}

function diagnostics(step: number): DiagnosticsRecord {
  const units = Array.from({ length: H }, (_, j) => (j + step) % 5 / 10);
  return {
    type: 'diagnostics', step,
    spectrum: ['i', 'f', 'g', 'o', 'all'].map((block) => ({ layer: 0, block, sigma1: 1.5, singularValues: [1.5, 1, 0.5, 0.25], reference: block === 'g' || block === 'all' ? 1 : 4 })),
    saturation: ['i', 'f', 'g', 'o'].map((gate) => ({ layer: 0, gate, left: 0.2, right: 0.1, unitLeft: units, unitRight: units.map((u) => u / 2) })),
    flow: [{ layer: 0, h: Array.from({ length: 8 }, (_, k) => Math.exp(-k / 3)), c: Array.from({ length: 8 }, (_, k) => Math.exp(-k / 6)) }],
    paramGradNorms: { weight_hh_l0: 0.2 },
  };
}

/** The writer's lines: step s's metrics line, and every step's diagnostics line. */
const lines = (step: number) => ({ metrics: JSON.stringify(metrics(step)) + '\n', diagnostics: JSON.stringify(diagnostics(step)) + '\n' });

describe('RNN Lab watches run folders written by other processes', () => {
  let api: RnnLabApi;
  let run: vscode.Uri;
  const id = `20990101-000000-outside-writer-${hostKind}`;
  /** Step -> when its records were on disk (Date.now(), the same clock in the writer and here). */
  const written = new Map<number, number>();

  before(async () => {
    api = await activateExtension();
    api.watched.quietMs = 3000;
    run = api.store.runUri(id);
  });

  after(async () => {
    await vscode.workspace.fs.delete(run, { recursive: true, useTrash: false }).then(undefined, () => undefined);
  });

  async function writeInHost(): Promise<void> {
    let m = '';
    let d = '';
    for (let step = 1; step <= STEPS; step++) {
      const l = lines(step);
      m += l.metrics;
      d += l.diagnostics;
      // workspace.fs has no append: the file is rewritten whole, as the extension's own runs are.
      await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(run, 'diagnostics.jsonl'), new TextEncoder().encode(d));
      await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(run, 'metrics.jsonl'), new TextEncoder().encode(m));
      written.set(step, Date.now());
      await sleep(150);
    }
  }

  async function writeInChildProcess(): Promise<void> {
    const { spawn } = await import('node:child_process');
    const all = Array.from({ length: STEPS }, (_, i) => lines(i + 1));
    const script = `
      const fs = require('fs'), path = require('path');
      const [dir, json] = process.argv.slice(1);
      const all = JSON.parse(json);
      let step = 0;
      const timer = setInterval(() => {
        const l = all[step++];
        fs.appendFileSync(path.join(dir, 'diagnostics.jsonl'), l.diagnostics);
        fs.appendFileSync(path.join(dir, 'metrics.jsonl'), l.metrics);
        console.log('WROTE ' + step + ' ' + Date.now());
        if (step === all.length) clearInterval(timer);
      }, 150);`;
    const child = spawn(process.execPath, ['-e', script, run.fsPath, JSON.stringify(all)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const m of out.matchAll(/WROTE (\d+) (\d+)\n/g)) written.set(Number(m[1]), Number(m[2]));
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.strictEqual(code, 0, 'the writer process failed');
  }

  it('Continue in PyTorch writes the exported project of a trained run into the folder given', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const runId = await vscode.commands.executeCommand<string>('rnnLab.train', vscode.Uri.joinPath(folder, 'tiny.rnn.json'));
    assert.ok(runId, 'no run id');
    assert.strictEqual((await api.whenDone(runId))?.status, 'finished');
    const parent = vscode.Uri.joinPath(folder, 'pytorch-export');
    const project = await vscode.commands.executeCommand<vscode.Uri>('rnnLab.continueInPytorch', { id: runId, folder: parent });
    assert.ok(project, `no project written; errors: ${api.errors.join(' | ')}`);
    const read = async (name: string) => new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(project, ...name.split('/'))));
    assert.match(await read('model.py'), /class LSTMModel\(WithEnds, nn\.LSTM\)/);
    assert.match(await read('train.py'), /DistributedDataParallel/);
    assert.strictEqual(JSON.parse(await read('rnnlab_project.json')).step, 20);
    assert.strictEqual(JSON.parse(await read('run/config.json')).name, 'tiny-lstm');
    assert.strictEqual(await read('data/tiny.txt'), new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, 'tiny.txt'))));
    // A second export into the same place is refused: nothing is overwritten.
    const again = await vscode.commands.executeCommand<vscode.Uri | undefined>('rnnLab.continueInPytorch', { id: runId, folder: parent });
    assert.strictEqual(again, undefined);
    assert.match(api.errors.at(-1) ?? '', /already exists/);
    await vscode.workspace.fs.delete(parent, { recursive: true, useTrash: false });
  });

  it('lists the run as running while its files grow, draws its records live, and stops it when they stop', async () => {
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await vscode.commands.executeCommand('rnnLab.diagnostics.focus');
    await waitFor('the Diagnostics view to be ready', () => (api.diagnostics.timesReady > 0 ? true : undefined));
    const config = { name: 'outside-writer', cell: 'lstm', layers: 1, hidden: H, seqLength: 8, batch: 8, steps: STEPS, task: 'charlm', data: 'tiny.txt', clipMode: 'norm', clip: 1 };
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(run, 'config.json'), new TextEncoder().encode(JSON.stringify(config)));
    // The watcher sees the folder first (sizes measured), then its files grow.
    await sleep(1500);
    const readsBefore = { ...api.watched.reads };
    const writing = hostKind === 'node' ? writeInChildProcess() : writeInHost();
    const listed = await waitFor('the Runs view to list the outside run as running', () => api.runs.getRuns().find((r) => r.id === id && r.status === 'running'), 20_000);
    assert.match(listed.description ?? '', /^running · LSTM 1x4/);
    await api.diagnostics.showRun(id);
    // The delay from a record on disk to the view having drawn it, for every step drawn from now on.
    const delays: number[] = [];
    let seen = 0;
    while (seen < STEPS) {
      const d = api.diagnostics.lastDrew;
      if (d && d.runIds[0] === id && d.lastStep > seen) {
        const now = Date.now();
        for (let step = seen + 1; step <= d.lastStep; step++) {
          const at = written.get(step);
          if (at !== undefined && step > 5) delays.push(now - at);
        }
        seen = d.lastStep;
      }
      await sleep(10);
    }
    await writing;
    const ack = api.diagnostics.lastDrew!;
    assert.strictEqual(ack.lastStep, STEPS);
    assert.ok(ack.charts.loss! >= STEPS, `loss chart: ${ack.charts.loss} points for ${STEPS} steps`);
    assert.strictEqual(ack.charts.scatter, 4 * H, `scatter: ${ack.charts.scatter} units`);
    assert.ok((ack.charts.flow ?? 0) > 0 && (ack.charts.saturation ?? 0) > 0, `flow and saturation drawn: ${JSON.stringify(ack.charts)}`);
    assert.ok(delays.length > 10, `only ${delays.length} steps drawn live`);
    // The Node host reads only the new bytes of the local files; the web host can only read them whole.
    const reads = { ranged: api.watched.reads.ranged - readsBefore.ranged, whole: api.watched.reads.whole - readsBefore.whole };
    if (hostKind === 'node') assert.ok(reads.ranged > 0 && reads.whole === 0, `reads: ${JSON.stringify(reads)}`);
    else assert.ok(reads.whole > 0 && reads.ranged === 0, `reads: ${JSON.stringify(reads)}`);
    const p = percentiles(delays);
    console.log(`outside writer (${hostKind === 'node' ? 'a child process' : 'the test, through workspace.fs'}): record written -> drawn in the Diagnostics view, ${p.n} steps: p50 ${p.p50} ms, p99 ${p.p99} ms, max ${p.max} ms`);
    // Quiet files: the writer stopped (no summary.json: as an interrupted run).
    const stopped = await waitFor('the outside run to be listed as stopped', () => api.runs.getRuns().find((r) => r.id === id && r.status === 'stopped'), 20_000);
    assert.match(stopped.description ?? '', /step 40/);
    assert.deepStrictEqual(api.watched.running(), []);
  });
});

/**
 * A folder added with Watch Run Folder... is a run like any other: remembered for the next window
 * (a fresh WatchedRuns reads the workspace state back; a folder gone meanwhile is dropped with a
 * log line), and Open Report, Sample, Resume Run, Continue in PyTorch and Delete Run take its id.
 * While another process writes it, Resume Run and Delete Run refuse it in one line. Stop Watching
 * forgets it and leaves its files.
 */
describe('RNN Lab treats a watched folder as a run', () => {
  let api: RnnLabApi;
  let folder: vscode.Uri;
  let trained: string;
  const elsewhere = () => vscode.Uri.joinPath(folder, `elsewhere-${hostKind}`);

  before(async () => {
    api = await activateExtension();
    api.watched.quietMs = 3000;
    folder = vscode.workspace.workspaceFolders![0].uri;
    const id = await vscode.commands.executeCommand<string>('rnnLab.train', vscode.Uri.joinPath(folder, 'tiny.rnn.json'));
    assert.ok(id, 'no run id');
    assert.strictEqual((await api.whenDone(id))?.status, 'finished');
    trained = id;
  });

  after(async () => {
    await vscode.workspace.fs.delete(elsewhere(), { recursive: true, useTrash: false }).then(undefined, () => undefined);
  });

  /** A copy of the trained run's folder outside the run store (as a synced remote run would be). */
  async function copyOutside(name: string): Promise<vscode.Uri> {
    const target = vscode.Uri.joinPath(elsewhere(), name);
    await vscode.workspace.fs.copy(api.store.runUri(trained), target, { overwrite: true });
    return target;
  }

  it('remembers a watched folder; a fresh watcher reads it back and drops one that is gone', async () => {
    const uri = await copyOutside('remote run');
    const id = await vscode.commands.executeCommand<string>('rnnLab.watchRunFolder', uri);
    assert.strictEqual(id, 'watched-remote_run');
    assert.ok(api.watched.remembered().includes(uri.toString()), `remembered: ${api.watched.remembered().join(', ')}`);
    await api.refreshRuns();
    const item = api.runs.getRuns().find((r) => r.id === id);
    assert.ok(item?.watched, 'listed as a watched folder (its context menu has Stop Watching)');
    assert.strictEqual(api.runs.getTreeItem(item).contextValue, 'run.watched');
    // What a reloaded window does: a new watcher over the same workspace state, plus a folder gone meanwhile.
    const gone = vscode.Uri.joinPath(elsewhere(), 'deleted meanwhile');
    await api.watched.memory!.update('rnnLab.watchedFolders', [...api.watched.remembered(), gone.toString()]);
    const errorsBefore = api.errors.length;
    const log: string[] = [];
    const fresh = new WatchedRuns(api.store, new PanelHub(), () => false, api.watched.memory, (line) => log.push(line));
    try {
      await fresh.restored;
      assert.deepStrictEqual(fresh.outsideRuns().map((r) => [r.id, r.uri.toString(), r.config?.name]), [[id, uri.toString(), 'tiny-lstm']]);
      assert.strictEqual(log.length, 1, log.join(' | '));
      assert.match(log[0], /^watched folder .*deleted meanwhile dropped: .*does not exist/);
      assert.strictEqual(api.errors.length, errorsBefore, 'a folder gone on reload is a log line, not an error');
      assert.deepStrictEqual(api.watched.remembered(), [uri.toString()]);
    } finally {
      fresh.dispose();
    }
  });

  it('Open Report, Sample, Run Model on Selection and Continue in PyTorch take a watched id', async () => {
    const id = 'watched-remote_run';
    assert.strictEqual(await vscode.commands.executeCommand<string>('rnnLab.openReport', id), id);
    const snapshot = await api.diagnostics.hub.snapshot(id);
    assert.strictEqual(snapshot?.metrics.at(-1)?.step, 20);
    const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId: id, temperature: 0.8, length: 30, prime: 'ab' });
    assert.strictEqual(text?.length, 32, `errors: ${api.errors.slice(-2).join(' | ')}`);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    const doc = await vscode.workspace.openTextDocument({ content: 'the quick brown fox', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    editor.selection = new vscode.Selection(doc.positionAt(4), doc.positionAt(19));
    const result = await vscode.commands.executeCommand<{ runId: string; chars?: unknown[] }>('rnnLab.runOnSelection', { runId: id });
    assert.strictEqual(result?.runId, id, `errors: ${api.errors.slice(-2).join(' | ')}`);
    assert.strictEqual(result?.chars?.length, 15);
    await vscode.commands.executeCommand('rnnLab.clearDecorations');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    const parent = vscode.Uri.joinPath(elsewhere(), 'export');
    const project = await vscode.commands.executeCommand<vscode.Uri>('rnnLab.continueInPytorch', { id, folder: parent });
    assert.ok(project, `errors: ${api.errors.slice(-2).join(' | ')}`);
    assert.strictEqual(JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(project, 'rnnlab_project.json')))).step, 20);
  });

  it('refuses to resume or delete a watched run while another process writes it; resumes and deletes it once quiet', async () => {
    const id = 'watched-remote_run';
    const uri = api.watched.outsideRuns().find((r) => r.id === id)!.uri;
    const metricsUri = vscode.Uri.joinPath(uri, 'metrics.jsonl');
    let text = new TextDecoder().decode(await vscode.workspace.fs.readFile(metricsUri));
    let writing = true;
    const writer = (async () => {
      for (let step = 21; writing; step++) {
        text += JSON.stringify({ ...metrics(step), type: 'metrics' }) + '\n';
        await vscode.workspace.fs.writeFile(metricsUri, new TextEncoder().encode(text));
        await sleep(200);
      }
    })();
    try {
      await waitFor('the watched run to be growing', () => (api.watched.isGrowing(id) ? true : undefined));
      assert.strictEqual(await vscode.commands.executeCommand('rnnLab.deleteRun', { runId: id, confirmed: true }), false);
      assert.match(api.errors.at(-1) ?? '', new RegExp(`^RNN Lab: cannot delete run ${id}: it is still being written by another process`));
      assert.strictEqual(await vscode.commands.executeCommand('rnnLab.resumeRun', { id, steps: 30 }), undefined);
      assert.match(api.errors.at(-1) ?? '', new RegExp(`^RNN Lab: cannot resume run ${id}: it is still being written by another process`));
    } finally {
      writing = false;
      await writer;
    }
    await waitFor('the watched run to be quiet', () => (api.watched.isGrowing(id) ? undefined : true));
    // Quiet: resumed as a new run of the store, from the copied checkpoint (step 20).
    const resumed = await vscode.commands.executeCommand<string>('rnnLab.resumeRun', { id, steps: 30 });
    assert.ok(resumed, `errors: ${api.errors.slice(-2).join(' | ')}`);
    const summary = await api.whenDone(resumed);
    assert.strictEqual(summary?.status, 'finished');
    assert.strictEqual(summary?.step, 30);
    assert.strictEqual(await vscode.commands.executeCommand('rnnLab.deleteRun', { runId: id, confirmed: true }), true);
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(uri)));
    assert.ok(!api.watched.outsideRuns().some((r) => r.id === id));
    assert.ok(!api.watched.remembered().includes(uri.toString()));
    await vscode.commands.executeCommand('rnnLab.deleteRun', { runId: resumed, confirmed: true });
  });

  it('Stop Watching forgets a watched folder and leaves its files', async () => {
    const uri = await copyOutside('second');
    const id = await vscode.commands.executeCommand<string>('rnnLab.watchRunFolder', uri);
    assert.strictEqual(id, 'watched-second');
    assert.strictEqual(await vscode.commands.executeCommand('rnnLab.stopWatching', { id }), true);
    assert.ok(!api.runs.getRuns().some((r) => r.id === id));
    assert.ok(!api.watched.remembered().includes(uri.toString()));
    assert.ok((await api.diagnostics.hub.runList()).every((r) => r.id !== id), 'gone from the panels\' run list');
    assert.ok((await vscode.workspace.fs.stat(vscode.Uri.joinPath(uri, 'checkpoint.safetensors'))).size > 0, 'its files are left');
    // Any other id is refused in one line.
    assert.strictEqual(await vscode.commands.executeCommand('rnnLab.stopWatching', { id: trained }), false);
    assert.match(api.errors.at(-1) ?? '', /is not a watched folder/);
  });
});
