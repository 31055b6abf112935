import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { DiagnosticsRecord, MetricsRecord } from '../../../src/protocol/config';
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

  it('lists the run as running while its files grow, draws its records live, and stops it when they stop', async () => {
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await vscode.commands.executeCommand('rnnLab.diagnostics.focus');
    await waitFor('the Diagnostics view to be ready', () => (api.diagnostics.timesReady > 0 ? true : undefined));
    const config = { name: 'outside-writer', cell: 'lstm', layers: 1, hidden: H, seqLength: 8, batch: 8, steps: STEPS, task: 'charlm', data: 'tiny.txt', clipMode: 'norm', clip: 1 };
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(run, 'config.json'), new TextEncoder().encode(JSON.stringify(config)));
    // The watcher sees the folder first (sizes measured), then its files grow.
    await sleep(1500);
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
    const p = percentiles(delays);
    console.log(`outside writer (${hostKind === 'node' ? 'a child process' : 'the test, through workspace.fs'}): record written -> drawn in the Diagnostics view, ${p.n} steps: p50 ${p.p50} ms, p99 ${p.p99} ms, max ${p.max} ms`);
    // Quiet files: the writer stopped (no summary.json: as an interrupted run).
    const stopped = await waitFor('the outside run to be listed as stopped', () => api.runs.getRuns().find((r) => r.id === id && r.status === 'stopped'), 20_000);
    assert.match(stopped.description ?? '', /step 40/);
    assert.deepStrictEqual(api.watched.running(), []);
  });
});
