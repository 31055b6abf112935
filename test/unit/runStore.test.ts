import * as assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsRecord, RunConfig } from '../../src/protocol/config';
import { DEFAULT_CONFIG } from '../../src/engine/config';
import { appendRecord, chunkNames, readChunkText, isListableConfig, createRun, createRunAt, deriveSummary, interruptedMessage, JsonlChunks, lastChunkName, listRuns, newRunId, readRecordChunks, runStamp, safeRunName, writeAtomic, writeCheckpoint, writeRunWhole, writeSummary, type RunFs } from '../../src/runFolder/runFolder';
import { nodeRunFs } from '../../src/runFolder/nodeRunFs';
import { forEachJsonlRecord } from '../../src/extension/panelMessages';
import { jsonlChunkName, parseJsonl } from '../../src/protocol/jsonl';
import { removeStaleTemps } from '../../src/runFolder/generation';

// The run folder layer over node:fs on a real temp dir (the CLI's file system; the extension plugs
// vscode.workspace.fs into the same interface).
function metrics(step: number, loss: number): MetricsRecord {
  return { type: 'metrics', step, loss, bpc: loss / Math.LN2, gradNorm: 1, gradNormClipped: 1, clipped: false, clipFraction: 0, lr: 0.01, seen: step * 32, charsPerSec: 1000, elapsedMs: step, sigma1: { '0.hh': 1 }, paramGradNorms: {} };
}

const config: RunConfig = { ...DEFAULT_CONFIG, name: 'tiny lstm/../x', data: 'tiny.txt', hidden: 16 };

describe('run folder layer (real files)', () => {
  let root: string;
  let fs: RunFs;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rnn-lab-runstore-'));
    fs = nodeRunFs(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('names runs <YYYYMMDD-HHMMSS>-<safe name> in UTC and never reuses a taken id', async () => {
    const now = new Date('2026-11-23T17:04:05.678Z');
    assert.equal(runStamp(now), '20261123-170405');
    assert.equal(safeRunName('tiny lstm/../x'), 'tiny_lstm_.._x');
    assert.equal(safeRunName('..'), 'run');
    assert.equal(safeRunName(''), 'run');
    const taken = new Set(['20261123-170405-a', '20261123-170405-a-2']);
    assert.equal(await newRunId(now, 'a', (id) => taken.has(id)), '20261123-170405-a-3');
    assert.equal(await newRunId(now, 'b', (id) => taken.has(id)), '20261123-170405-b');
  });

  it('creates a run folder with config.json, and a second run in the same second gets its own folder', async () => {
    const now = new Date('2026-11-23T17:04:05Z');
    const a = await createRun(fs, config, now);
    const b = await createRun(fs, config, now);
    assert.equal(a, '20261123-170405-tiny_lstm_.._x');
    assert.equal(b, `${a}-2`);
    assert.deepEqual(JSON.parse(await readFile(join(root, a, 'config.json'), 'utf8')), config);
    assert.deepEqual((await readdir(join(root, a))).sort(), ['config.json'], 'a .tmp file was left behind');
    // An id reserved by a run still being created in this window is skipped too.
    const c = await createRun(fs, config, now, (id) => id === `${a}-3`);
    assert.equal(c, `${a}-4`);
  });

  it('writeAtomic replaces a file through a .tmp rename and leaves no .tmp', async () => {
    await fs.createDirectory('r');
    await writeAtomic(fs, 'r/summary.json', '{"old":true}');
    await writeAtomic(fs, 'r/summary.json', '{"new":true}');
    assert.equal(await readFile(join(root, 'r/summary.json'), 'utf8'), '{"new":true}');
    assert.deepEqual(await readdir(join(root, 'r')), ['summary.json']);
  });

  it('parses JSON Lines and drops a torn last line (a flush cut short), but reports a bad middle line', () => {
    const ok = parseJsonl<{ a: number }>('{"a":1}\n{"a":2}\n');
    assert.deepEqual(ok, { records: [{ a: 1 }, { a: 2 }], tornLastLine: false, badLines: [] });
    const torn = parseJsonl<{ a: number }>('{"a":1}\n{"a":2}\n{"a":3,"lo');
    assert.deepEqual(torn, { records: [{ a: 1 }, { a: 2 }], tornLastLine: true, badLines: [] });
    const bad = parseJsonl<{ a: number }>('{"a":1}\nnot json\n\n{"a":4}\n');
    assert.deepEqual(bad, { records: [{ a: 1 }, { a: 4 }], tornLastLine: false, badLines: [2] });
    assert.deepEqual(parseJsonl(''), { records: [], tornLastLine: false, badLines: [] });
  });

  it('derives the status: running if open, else summary.json, else stopped (interrupted) with step and loss from the last record', () => {
    assert.deepEqual(deriveSummary(true, undefined, []), { status: 'running' });
    const finished = { status: 'finished' as const, step: 20, loss: 1.5 };
    assert.deepEqual(deriveSummary(false, finished, [metrics(3, 9)]), { status: 'finished', summary: finished });
    const interrupted = deriveSummary(false, undefined, [metrics(1, 4), metrics(2, 3.5)]);
    assert.equal(interrupted.status, 'stopped');
    assert.deepEqual(interrupted.summary, { status: 'stopped', step: 2, loss: 3.5, bpc: 3.5 / Math.LN2, message: interruptedMessage });
    assert.deepEqual(deriveSummary(false, undefined, []).summary, { status: 'stopped', step: 0, message: interruptedMessage });
  });

  it('lists runs newest first; a run interrupted by a window close is stopped and its files stay byte for byte', async () => {
    const finishedId = await createRun(fs, { ...config, name: 'done' }, new Date('2026-11-23T10:00:00Z'));
    await writeFile(join(root, finishedId, 'metrics.jsonl'), `${JSON.stringify(metrics(1, 4))}\n${JSON.stringify(metrics(2, 3))}\n`);
    await writeAtomic(fs, `${finishedId}/summary.json`, JSON.stringify({ status: 'finished', step: 2, loss: 3 }));

    // The window closed mid-flush: no summary.json, and the metrics file ends in half a record.
    const interruptedId = await createRun(fs, { ...config, name: 'cut' }, new Date('2026-11-23T11:00:00Z'));
    const metricsText = `${JSON.stringify(metrics(1, 4.2))}\n${JSON.stringify(metrics(2, 3.9))}\n{"type":"metrics","step":3,"lo`;
    await writeFile(join(root, interruptedId, 'metrics.jsonl'), metricsText);
    await writeFile(join(root, interruptedId, 'diagnostics.jsonl'), '{"type":"diagnostics","step":1}\n');

    const liveId = await createRun(fs, { ...config, name: 'live' }, new Date('2026-11-23T12:00:00Z'));
    // Not runs: a stray file, a folder without config.json, a folder with an unreadable config.
    await writeFile(join(root, 'notes.txt'), 'hello');
    await mkdir(join(root, '20261123-130000-empty'));
    await mkdir(join(root, '20261123-140000-broken'));
    await writeFile(join(root, '20261123-140000-broken', 'config.json'), '{"name":');

    const runs = await listRuns(fs, (id) => id === liveId);
    assert.deepEqual(runs.map((r) => [r.id, r.status]), [
      [liveId, 'running'],
      [interruptedId, 'stopped'],
      [finishedId, 'finished'],
    ]);
    const cut = runs[1];
    assert.equal(cut.config.name, 'cut');
    assert.deepEqual(cut.summary, { status: 'stopped', step: 2, loss: 3.9, bpc: 3.9 / Math.LN2, message: interruptedMessage });
    assert.equal(runs[2].summary?.loss, 3);
    // A second listing with a cache does not read the interrupted run's metrics again.
    const cache = new Map();
    await listRuns(fs, (id) => id === liveId, cache);
    assert.deepEqual([...cache.keys()], [interruptedId]);
    let metricsReads = 0;
    const counting: RunFs = { ...fs, readFile: (p) => ((metricsReads += Number(p.endsWith('metrics.jsonl'))), fs.readFile(p)) };
    const again = await listRuns(counting, (id) => id === liveId, cache);
    assert.equal(metricsReads, 0);
    assert.deepEqual(again.find((r) => r.id === interruptedId)?.summary, cut.summary);
    // Listing only reads: the interrupted run's data is intact and no summary was invented on disk.
    assert.equal(await readFile(join(root, interruptedId, 'metrics.jsonl'), 'utf8'), metricsText);
    assert.deepEqual((await readdir(join(root, interruptedId))).sort(), ['config.json', 'diagnostics.jsonl', 'metrics.jsonl']);
  });

  it('a long run\'s JSONL goes into sealed chunks; each flush rewrites only the current one (and sealed ones not yet on disk); readers join them', async () => {
    assert.deepEqual([0, 1, 2].map((i) => jsonlChunkName('metrics.jsonl', i)), ['metrics.jsonl', 'metrics.2.jsonl', 'metrics.3.jsonl']);
    const id = await createRun(fs, { ...config, name: 'long' }, new Date('2026-11-23T09:00:00Z'));
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify(metrics(i + 1, 5 - i / 10)) + '\n');
    const chunkChars = 3 * lines[0].length + 10; // three records per chunk
    const chunks = new JsonlChunks('metrics.jsonl', chunkChars);
    const flush = async () => {
      const w = chunks.writes();
      for (const [name, text] of w) await fs.writeFile(`${id}/${name}`, new TextEncoder().encode(text));
      chunks.written(w);
      return w;
    };
    let largest = 0;
    const sealedBefore = new Set<string>();
    for (let i = 0; i < lines.length; i++) {
      chunks.add(lines[i]);
      if (i % 5 === 4) {
        const w = await flush();
        largest = Math.max(largest, ...w.map(([, text]) => text.length));
        // The sealed chunks since the last flush, then the current one: nothing sealed earlier.
        for (const [name] of w.slice(0, -1)) assert.ok(!sealedBefore.has(name), `${name} written again after it was sealed and written`);
        w.slice(0, -1).forEach(([name]) => sealedBefore.add(name));
      }
    }
    // A failed flush keeps its sealed chunks: the next flush writes them again.
    chunks.add(lines[0]);
    chunks.add(lines[1]);
    chunks.add(lines[2]);
    const lost = chunks.writes();
    assert.equal(lost.length, 2, 'one sealed chunk and the current one');
    const retried = chunks.writes();
    assert.deepEqual(retried.map(([n]) => n), lost.map(([n]) => n));
    chunks.written(retried);
    assert.equal(chunks.writes().length, 1, 'once written, only the current chunk is left to write');
    assert.ok(largest <= chunkChars, `no write is larger than a chunk (${largest})`);
    // A flush that failed halfway (the window closed) and left a chunk torn does not glue lines.
    const names = (await readdir(join(root, id))).filter((n) => n.startsWith('metrics')).sort();
    assert.ok(names.length >= 13, `${names.length} chunk files`);
    const read = async (name: string) => readFile(join(root, id, name), 'utf8').catch(() => undefined);
    const stepsOnDisk = async () => {
      const steps: number[] = [];
      await forEachJsonlRecord<MetricsRecord>(read, 'metrics.jsonl', 'metrics', (r) => steps.push(r.step));
      return steps;
    };
    assert.deepEqual(await stepsOnDisk(), Array.from({ length: 40 }, (_, i) => i + 1));
    const second = await readFile(join(root, id, 'metrics.2.jsonl'), 'utf8');
    await writeFile(join(root, id, 'metrics.2.jsonl'), second.slice(0, -20)); // its last record cut short
    assert.equal((await stepsOnDisk()).length, 39, 'only the torn record is lost');
    // The run list rebuilds an interrupted chunked run's summary from its last chunk's last record,
    // reading that chunk only; a last chunk with nothing whole in it falls back to the one before.
    let reads: string[] = [];
    const counting: RunFs = { ...fs, readFile: (p) => (reads.push(p), fs.readFile(p)) };
    const listed = (await listRuns(counting, () => false)).find((r) => r.id === id)!;
    assert.equal(listed.summary?.step, 40);
    const last = names.filter((n) => /^metrics/.test(n)).length;
    assert.deepEqual(reads.filter((p) => p.includes('/metrics')), [`${id}/metrics.${last}.jsonl`]);
    await writeFile(join(root, id, `metrics.${last + 1}.jsonl`), '{"type":"metr');
    reads = [];
    assert.equal((await listRuns(counting, () => false)).find((r) => r.id === id)!.summary?.step, 40);
    assert.deepEqual(reads.filter((p) => p.includes('/metrics')), [`${id}/metrics.${last + 1}.jsonl`, `${id}/metrics.${last}.jsonl`]);
  });

  it('a colliding name gets a safe suffix: every candidate id is the safe name plus -2, -3 (the CLI and the extension alike)', async () => {
    const now = new Date('2026-11-23T17:04:05Z');
    const a = await createRun(fs, { ...config, name: '../evil name' }, now);
    const b = await createRun(fs, { ...config, name: '../evil name' }, now);
    assert.equal(a, '20261123-170405-_evil_name');
    assert.equal(b, '20261123-170405-_evil_name-2');
    assert.deepEqual((await readdir(root)).sort(), [a, b]);
  });

  it('createRunAt (--out) refuses a folder that already holds a run and writes nothing there', async () => {
    assert.equal(await createRunAt(fs, 'out/mine', config), true);
    await writeFile(join(root, 'out/mine/metrics.jsonl'), 'kept\n');
    assert.equal(await createRunAt(fs, 'out/mine', { ...config, name: 'other' }), false);
    assert.equal(JSON.parse(await readFile(join(root, 'out/mine/config.json'), 'utf8')).name, config.name);
    assert.equal(await readFile(join(root, 'out/mine/metrics.jsonl'), 'utf8'), 'kept\n');
  });

  it('writeCheckpoint writes the resume state, then the model; writeSummary replaces summary.json whole', async () => {
    await createRunAt(fs, 'r', config);
    const order: string[] = [];
    const watching: RunFs = { ...fs, rename: (from, to) => (order.push(to), fs.rename(from, to)) };
    await writeCheckpoint(watching, 'r', new Uint8Array([1, 2]), new Uint8Array([3]));
    await writeCheckpoint(watching, 'r', new Uint8Array([4]));
    assert.deepEqual(order, ['r/resume.safetensors', 'r/checkpoint.safetensors', 'r/checkpoint.safetensors']);
    assert.deepEqual([...(await readFile(join(root, 'r/checkpoint.safetensors')))], [4]);
    assert.deepEqual([...(await readFile(join(root, 'r/resume.safetensors')))], [3]);
    await writeSummary(fs, 'r', { status: 'finished', step: 3 });
    assert.deepEqual(JSON.parse(await readFile(join(root, 'r/summary.json'), 'utf8')), { status: 'finished', step: 3 });
    assert.deepEqual((await readdir(join(root, 'r'))).sort(), ['checkpoint.safetensors', 'config.json', 'resume.safetensors', 'summary.json']);
  });

  it('appends records to the last chunk that exists, and reads every chunk in order', async () => {
    await createRunAt(fs, 'r', config);
    assert.equal(await lastChunkName(fs, 'r', 'metrics.jsonl'), 'metrics.jsonl');
    await writeFile(join(root, 'r/metrics.jsonl'), `${JSON.stringify(metrics(1, 4))}\n`);
    await writeFile(join(root, 'r/metrics.2.jsonl'), `${JSON.stringify(metrics(2, 3))}\n`);
    const last = await lastChunkName(fs, 'r', 'metrics.jsonl');
    assert.equal(last, 'metrics.2.jsonl');
    await appendRecord(fs, 'r', last, metrics(3, 2));
    assert.deepEqual(await chunkNames(fs, 'r', 'metrics.jsonl'), ['metrics.jsonl', 'metrics.2.jsonl']);
    const chunks = await readRecordChunks<MetricsRecord>(fs, 'r', 'metrics.jsonl');
    assert.deepEqual(chunks.map((c) => [c.chunk, c.records.map((r) => r.step)]), [['metrics.jsonl', [1]], ['metrics.2.jsonl', [2, 3]]]);
    const noAppend: RunFs = { ...fs, appendFile: undefined };
    await assert.rejects(appendRecord(noAppend, 'r', last, metrics(4, 1)), /cannot append/);
  });

  it('a chunk whose flush was cut between replacing it and renaming its temp in is read from the temp, and a resume renames it back', async () => {
    await createRunAt(fs, 'r', config);
    await writeFile(join(root, 'r/metrics.jsonl.tmp'), `${JSON.stringify(metrics(1, 4))}\n${JSON.stringify(metrics(2, 3))}\n{"type":"met`);
    await writeFile(join(root, 'r/diagnostics.jsonl'), '');
    await writeFile(join(root, 'r/diagnostics.jsonl.tmp'), 'a newer flush cut short');
    assert.deepEqual(await chunkNames(fs, 'r', 'metrics.jsonl'), ['metrics.jsonl']);
    assert.equal(await readChunkText(fs, 'r', 'diagnostics.jsonl'), '', 'the chunk itself wins over a temp of a later flush');
    const chunks = await readRecordChunks<MetricsRecord>(fs, 'r', 'metrics.jsonl');
    assert.deepEqual(chunks[0].records.map((r) => r.step), [1, 2]);
    const [listed] = await listRuns(fs, () => false);
    assert.equal(listed.summary?.step, 2, 'the listing reads the step from the temp');
    assert.deepEqual((await removeStaleTemps(fs, 'r')).sort(), ['diagnostics.jsonl.tmp removed', 'metrics.jsonl.tmp -> metrics.jsonl']);
    assert.deepEqual((await readdir(join(root, 'r'))).sort(), ['config.json', 'diagnostics.jsonl', 'metrics.jsonl']);
    assert.match(await readFile(join(root, 'r/metrics.jsonl'), 'utf8'), /^\{"type":"metrics","step":1/);
  });

  it('writeRunWhole makes the folder appear complete (config.json last) or not at all, and refuses a non-empty target', async () => {
    const written: string[] = [];
    const watching: RunFs = { ...fs, writeFile: (p, d) => (written.push(p), fs.writeFile(p, d)) };
    assert.equal(await writeRunWhole(watching, 'imp', { 'config.json': '{}\n', 'checkpoint.safetensors': new Uint8Array([9]), 'summary.json': '{}\n' }), true);
    assert.equal(written.at(-1), '.imp.writing/config.json');
    assert.deepEqual((await readdir(root)).sort(), ['imp']);
    assert.deepEqual((await readdir(join(root, 'imp'))).sort(), ['checkpoint.safetensors', 'config.json', 'summary.json']);
    assert.equal(await writeRunWhole(fs, 'imp', { 'config.json': '{"other":1}\n' }), false);
    assert.equal(await readFile(join(root, 'imp/config.json'), 'utf8'), '{}\n');
    // A write that fails leaves no half folder behind.
    const failing: RunFs = { ...fs, writeFile: (p, d) => (p.endsWith('config.json') ? Promise.reject(new Error('disk full')) : fs.writeFile(p, d)) };
    await assert.rejects(writeRunWhole(failing, 'sub/imp2', { 'config.json': '{}\n', 'summary.json': '{}\n' }), /disk full/);
    assert.deepEqual(await readdir(join(root, 'sub')), []);
  });

  it('lists a folder only when its config.json has what the views read: a foreign or damaged config is skipped, not a crash', async () => {
    const fs = nodeRunFs(root);
    const good = { name: 'ok', task: 'charlm', cell: 'lstm', layers: 1, hidden: 8 };
    const cases: Record<string, unknown> = { good, cellNumber: { ...good, cell: 3 }, noName: { ...good, name: undefined }, list: [good], text: 'lstm', hiddenNaN: { ...good, hidden: 'NaN' } };
    for (const [id, config] of Object.entries(cases)) {
      await fs.createDirectory(id);
      await fs.writeFile(`${id}/config.json`, new TextEncoder().encode(JSON.stringify(config)));
    }
    assert.deepEqual((await listRuns(fs, () => false)).map((r) => r.id), ['good']);
    assert.equal(isListableConfig(good), true);
    assert.equal(isListableConfig(null), false);
  });

  it('lists nothing (no error) when the store folder does not exist yet', async () => {
    assert.deepEqual(await listRuns(nodeRunFs(join(root, 'nope')), () => false), []);
  });
});
