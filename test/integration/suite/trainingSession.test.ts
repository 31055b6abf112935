import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RunConfig } from '../../../src/protocol/config';
import type { FromWorker } from '../../../src/protocol/trainingWorker';
import { TrainingSession } from '../../../src/extension/trainingSession';
import { extensionId, hostKind } from './helpers';
import { DEFAULT_CONFIG } from '../../../src/engine/config';

function config(name: string, steps: number): RunConfig {
  return { ...DEFAULT_CONFIG, name, data: 'tiny.txt', hidden: 8, seqLength: 8, batch: 1, steps, lr: 0.01, valFraction: 0.1, evalEvery: 0, diagEvery: 5, spectrumEvery: 10 };
}

describe('TrainingSession (with a protocol-only fake worker)', () => {
  let fakeWorker: vscode.Uri;

  before(() => {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext);
    // A Web Worker script in the web host, a worker_threads script in the Node host.
    fakeWorker = vscode.Uri.joinPath(ext.extensionUri, 'dist-test', 'integration', hostKind === 'node' ? 'fakeTrainingWorker-node.js' : 'fakeTrainingWorker.js');
  });

  async function start(name: string, steps: number, onMessage: (m: FromWorker) => void = () => {}) {
    const received: FromWorker[] = [];
    const session = await TrainingSession.start({
      extensionUri: vscode.Uri.parse('unused:/'),
      runId: `run-${name}`,
      config: config(name, steps),
      dataText: 'abcd',
      workerScript: fakeWorker,
      onMessage: (m) => {
        received.push(m);
        onMessage(m);
      },
    });
    return { session, received };
  }

  it('starts a worker, forwards its messages in order and ends with one done', async () => {
    const { session, received } = await start('ok', 5);
    const summary = await session.done;
    assert.deepStrictEqual(summary, { status: 'finished', step: 5, loss: 0.2 });
    assert.deepStrictEqual(
      received.map((m) => (m.type === 'metrics' ? `metrics ${m.record.step}` : m.type)),
      ['started', 'metrics 1', 'metrics 2', 'metrics 3', 'metrics 4', 'metrics 5', 'done'],
    );
    const metrics = received.find((m) => m.type === 'metrics');
    assert.strictEqual(metrics?.type === 'metrics' && metrics.record.seen, 4);
    assert.strictEqual(session.isRunning, false);
  });

  it('stops a run when asked', async () => {
    let session: TrainingSession | undefined;
    const started = await start('long', 100_000, (m) => {
      if (m.type === 'metrics' && m.record.step === 3) session?.stop();
    });
    session = started.session;
    const summary = await session.done;
    assert.strictEqual(summary.status, 'stopped');
    assert.ok(summary.step >= 3 && summary.step < 100, `stopped at step ${summary.step}`);
    assert.strictEqual(started.received.filter((m) => m.type === 'done').length, 1);
  });

  it('reports a crashing worker as a failed run', async () => {
    const { session, received } = await start('crash', 5);
    const summary = await session.done;
    assert.strictEqual(summary.status, 'failed');
    assert.match(summary.message ?? '', /fake worker crashed on purpose/);
    assert.strictEqual(received.at(-1)?.type, 'done');
  });
});

describe('TrainingSession (with the real training worker)', () => {
  it('trains the fixture config to the end in the host\'s worker', async function () {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext);
    // TrainingSession picks the host's worker: worker_threads (dist/worker.js) in the Node host,
    // a Web Worker (dist/worker-web.js) in the web host.
    const bundle = hostKind === 'node' ? 'worker.js' : 'worker-web.js';
    assert.ok(await reachable(vscode.Uri.joinPath(ext.extensionUri, 'dist', bundle)), `dist/${bundle} was not built`);
    console.log(`training worker in the ${hostKind} host: dist/${bundle}`);

    const received: FromWorker[] = [];
    const session = await TrainingSession.start({
      extensionUri: ext.extensionUri,
      runId: 'run-real',
      config: config('real', 20),
      dataText: 'hello world, hello rnn. '.repeat(40),
      onMessage: (m) => received.push(m),
    });
    const summary = await session.done;
    assert.strictEqual(summary.status, 'finished', summary.message);
    assert.strictEqual(summary.step, 20);
    const steps = received.flatMap((m) => (m.type === 'metrics' ? [m.record.step] : []));
    assert.strictEqual(steps.at(-1), 20);
    assert.ok(received.every((m) => m.type !== 'metrics' || Number.isFinite(m.record.loss)), 'a loss is not finite');
    const losses = received.flatMap((m) => (m.type === 'metrics' ? [m.record.loss] : []));
    assert.ok(losses[losses.length - 1] < losses[0], `loss did not decrease: ${losses[0]} -> ${losses.at(-1)}`);
    const diags = received.filter((m) => m.type === 'diagnostics');
    assert.ok(diags.length >= 4, `only ${diags.length} diagnostics records`);
    assert.ok(received.some((m) => m.type === 'checkpoint' && m.bytes.length > 0), 'no checkpoint');
  });
});

async function reachable(uri: vscode.Uri): Promise<boolean> {
  if (uri.scheme === 'http' || uri.scheme === 'https') {
    return (await fetch(uri.toString(true), { method: 'HEAD', cache: 'no-store' })).ok;
  }
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
