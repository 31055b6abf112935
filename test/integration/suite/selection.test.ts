import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { RunOnSelectionResult } from '../../../src/extension/selection/state';
import { loadCheckpoint, type LoadedModel } from '../../../src/engine/checkpoint';
import { DEFAULT_CONFIG } from '../../../src/engine/config';
import { checkpointBytes, datasetFor } from '../../../src/engine/session';
import { Trainer } from '../../../src/engine/trainer';
import { activateExtension, hostKind, screenshot } from './helpers';

type Influence = { target: number; targetOffset: number; char: string; influence: number[] };

/** -ln p(x_s | x_<s) for every step s >= 1, from the top hidden states and the head weights, softmax by hand. */
function surprisalsDirect(model: LoadedModel, tokens: Int32Array): number[] {
  const net = model.net;
  const T = tokens.length;
  net.forward(tokens, T, 1, net.newState(1));
  const H = net.spec.hidden;
  const top = net.topOutputs();
  const W = net.params.view('head.weight');
  const b = net.params.view('head.bias');
  const V = b.length;
  const out: number[] = [NaN];
  for (let s = 1; s < T; s++) {
    const h = top.subarray((s - 1) * H, s * H);
    const z = Array.from({ length: V }, (_, k) => {
      let acc = b[k];
      for (let j = 0; j < H; j++) acc += W[k * H + j] * h[j];
      return acc;
    });
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((a, zk) => a + Math.exp(zk - max), 0));
    out.push(lse - z[tokens[s]]);
  }
  return out;
}

async function writeWorkspaceFile(name: string, text: string): Promise<vscode.Uri> {
  const uri = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, name);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
  return uri;
}

function select(editor: vscode.TextEditor, from: number, to: number): void {
  const doc = editor.document;
  editor.selection = new vscode.Selection(doc.positionAt(from), doc.positionAt(to));
}

describe('RNN Lab: run a model on the selection', function () {
  this.timeout(120_000);
  let api: RnnLabApi;
  let runId: string;
  let model: LoadedModel;
  let corpus: string;
  let editor: vscode.TextEditor;
  let result: RunOnSelectionResult;

  before(async () => {
    api = await activateExtension();
    corpus = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'tiny.txt')));
    // Long enough on the tiny text that the model has opinions (common letters expected, rare ones surprising).
    const config = await writeWorkspaceFile(
      'selection.rnn.json',
      JSON.stringify({ name: 'selection-lstm', task: 'charlm', data: 'tiny.txt', cell: 'lstm', layers: 1, hidden: 32, seqLength: 24, batch: 4, steps: 150, lr: 0.01, optimizer: 'adam', seed: 3, diagEvery: 0 }),
    );
    runId = (await vscode.commands.executeCommand<string>('rnnLab.train', config))!;
    const summary = await api.whenDone(runId)!;
    assert.strictEqual(summary.status, 'finished', summary.message);
    model = loadCheckpoint(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.runUri(runId), 'checkpoint.safetensors')), 'checkpoint');
    // Long lines wrap, so the screenshots show every decorated character.
    await vscode.workspace.getConfiguration('editor').update('wordWrap', 'on', vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('notifications.clearAll');
    // An untitled document: the training text, then a line with characters the model never saw.
    const doc = await vscode.workspace.openTextDocument({ content: `${corpus}\nMr. Darcy said «no» to 42 of them.\n`, language: 'plaintext' });
    editor = await vscode.window.showTextDocument(doc, { preview: false });
  });

  after(async () => {
    await vscode.workspace.getConfiguration('editor').update('wordWrap', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('rnnLab.clearDecorations');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('Run Model on Selection: per-character surprisal is the engine\'s -log p computed directly; unknown characters are marked', async () => {
    const doc = editor.document;
    const from = doc.getText().indexOf('this truth');
    const to = doc.getText().length;
    select(editor, from, to);
    result = (await vscode.commands.executeCommand<RunOnSelectionResult>('rnnLab.runOnSelection', { runId }))!;
    assert.ok(result, `no result; errors: ${api.errors.join(' | ')}`);
    assert.strictEqual(result.kind, 'text');
    assert.strictEqual(result.start, from);
    assert.strictEqual(result.length, to - from);
    const chars = result.chars!;
    assert.strictEqual(chars.map((c) => c.char).join(''), doc.getText().slice(from, to));
    const vocab = model.vocab!;
    const index = new Map(vocab.map((c, i) => [c, i]));
    // The context before the selection is fed first: here all 200 characters before it.
    assert.strictEqual(result.context, doc.getText().slice(from - 200, from));
    const ids = [...Array.from(result.context!), ...chars.map((c) => c.char)].map((c) => index.get(c)).filter((v): v is number => v !== undefined);
    const direct = surprisalsDirect(model, Int32Array.from(ids));
    const contextSteps = Array.from(result.context!).filter((c) => index.has(c)).length;
    let step = contextSteps;
    let worst = 0;
    for (const c of chars) {
      if (!index.has(c.char)) {
        assert.strictEqual(c.known, false, `${JSON.stringify(c.char)} should be unknown`);
        assert.strictEqual(c.p, null);
        continue;
      }
      assert.ok(c.known);
      worst = Math.max(worst, Math.abs(c.surprisal! - direct[step]));
      assert.ok(Math.abs(c.p! - Math.exp(-direct[step])) < 1e-9);
      step++;
    }
    assert.ok(worst < 1e-9, `largest |surprisal - direct -log p| = ${worst}`);
    for (const ch of ['D', '«', '»', '4', '2']) assert.ok(chars.some((c) => c.char === ch && !c.known), `${ch} not marked unknown`);
    const shown = api.selection.decorationsOf(doc);
    assert.strictEqual(shown?.mode, 'surprisal');
    // every character is decorated: a colour by surprisal, or the unknown border
    assert.strictEqual(shown.decorated, chars.length);
    assert.match(api.selection.legend(), /surprisal/);
    // The trained model finds its own text less surprising than the unknown-laden line.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const nl = chars.findIndex((c, i) => i > 0 && c.char === '\n' && chars[i + 1]?.char === 'M');
    const inText = chars.slice(0, nl).filter((c) => c.surprisal !== null).map((c) => c.surprisal!);
    assert.ok(mean(inText) < Math.log(vocab.length), `mean surprisal ${mean(inText)} not below uniform ${Math.log(vocab.length)}`);
    // The hover of a character of the unknown-laden line, open for the screenshot.
    const at = doc.positionAt(doc.getText().indexOf('said') + 2);
    editor.selection = new vscode.Selection(at, at);
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('editor.action.showHover');
    await new Promise((r) => setTimeout(r, 700));
    await screenshot('selection-surprisal');
    // The same in a dark theme: translucent colours over either background.
    const workbench = vscode.workspace.getConfiguration('workbench');
    await workbench.update('colorTheme', 'Default Dark Modern', vscode.ConfigurationTarget.Global);
    try {
      await new Promise((r) => setTimeout(r, 700));
      await screenshot('selection-surprisal-dark');
    } finally {
      await workbench.update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('the hover shows the top-5 (sorted, summing to at most 1), the actual character\'s p and the gates', async () => {
    const doc = editor.document;
    const k = result.chars!.findIndex((c, i) => i > 5 && c.known && c.top.length === 5);
    const c = result.chars![k];
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, doc.positionAt(c.offset));
    const text = hovers
      .flatMap((h) => h.contents)
      .map((m) => (typeof m === 'string' ? m : m.value))
      .find((v) => v.includes('RNN Lab'));
    assert.ok(text, 'no RNN Lab hover');
    const rows = [...text.matchAll(/^\| `([^`]+)`(?: ✓)? \| ([\d.]+) \|$/gm)].map((m) => Number(m[2]));
    assert.strictEqual(rows.length, 5, text);
    for (let i = 1; i < 5; i++) assert.ok(rows[i - 1] >= rows[i], `not sorted: ${rows}`);
    const sum = rows.reduce((a, b) => a + b, 0);
    // shown with 4 decimals: each value is off by at most 5e-5
    assert.ok(sum <= 1 + 5 * 5e-5, `top-5 sums to ${sum}`);
    rows.forEach((p, i) => assert.ok(Math.abs(p - c.top[i].p) <= 5e-5 + 1e-12, `row ${i}: ${p} vs ${c.top[i].p}`));
    assert.ok(text.includes(`= ${c.p!.toFixed(4)}`), text);
    assert.match(text, /gates while reading it.*L1: i [\d.-]+.* · f [\d.-]+.* · g [\d.-]+.* · o [\d.-]+/);
    const unknown = result.chars!.find((x) => x.char === '«')!;
    const uh = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, doc.positionAt(unknown.offset));
    assert.ok(uh.flatMap((h) => h.contents).some((m) => (typeof m === 'string' ? m : m.value).includes('not in the model\'s vocabulary')));
  });

  it('Color by Hidden Unit: the quick pick previews the most varying unit, Escape restores; a chosen unit colours h_t[unit]', async () => {
    const doc = editor.document;
    const picking = vscode.commands.executeCommand<{ unit: number } | undefined>('rnnLab.colorByHiddenUnit');
    // The first item (largest variance) is active at once: its preview is on the text.
    await waitForMode(doc, 'unit');
    assert.match(api.selection.legend(), /^L1 [hc]\[\d+\]/);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.strictEqual(await picking, undefined);
    assert.strictEqual(api.selection.decorationsOf(doc)?.mode, 'surprisal');
    const picked = await vscode.commands.executeCommand<{ layer: number; unit: number; state: string; values: number[]; variance: number }>('rnnLab.colorByHiddenUnit', { layer: 0, unit: 5, state: 'c' });
    assert.ok(picked);
    assert.strictEqual(picked.values.length, result.chars!.length);
    // c_t[5] after the last character equals the network's own final cell state.
    const index = new Map(model.vocab!.map((c, i) => [c, i]));
    const ids = [...Array.from(result.context!), ...result.chars!.map((c) => c.char)].map((c) => index.get(c)).filter((v): v is number => v !== undefined);
    const state = model.net.newState(1);
    model.net.forward(Int32Array.from(ids), ids.length, 1, state);
    assert.ok(Math.abs(picked.values[picked.values.length - 1] - state.c[0][5]) < 1e-12);
    assert.strictEqual(api.selection.decorationsOf(doc)?.mode, 'unit');
    assert.ok(picked.variance > 0);
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('editor.action.hideHover');
    await screenshot('selection-unit');
  });

  it('Show Influence: positive on known characters before the cursor, zero from the cursor on', async () => {
    const doc = editor.document;
    const target = result.chars!.findIndex((c, i) => i > 40 && c.known && c.char === 'f');
    const offset = result.chars![target].offset;
    editor.selection = new vscode.Selection(doc.positionAt(offset), doc.positionAt(offset));
    const inf = (await vscode.commands.executeCommand<Influence>('rnnLab.showInfluence'))!;
    assert.ok(inf, api.errors.join(' | '));
    assert.strictEqual(inf.target, target);
    assert.strictEqual(inf.char, 'f');
    assert.strictEqual(inf.influence.length, result.chars!.length);
    for (let i = target; i < inf.influence.length; i++) assert.strictEqual(inf.influence[i], 0, `influence after the cursor at ${i}`);
    for (let i = 0; i < target; i++) {
      if (result.chars![i].known) assert.ok(inf.influence[i] > 0, `no influence at ${i}`);
      else assert.strictEqual(inf.influence[i], 0);
    }
    // The nearest characters weigh most, on average, for a small LSTM trained briefly.
    const near = inf.influence.slice(target - 5, target).reduce((a, b) => a + b, 0) / 5;
    const far = inf.influence.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    assert.ok(near > far, `near ${near} far ${far}`);
    assert.strictEqual(api.selection.decorationsOf(doc)?.mode, 'influence');
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('editor.action.hideHover');
    await screenshot('selection-influence');
  });

  it('Continue Selection inserts exactly N characters as one edit; one undo removes them', async () => {
    const doc = editor.document;
    await vscode.commands.executeCommand('rnnLab.runOnSelection', { runId });
    const before = doc.getText();
    const from = before.indexOf('It is a truth');
    const to = before.indexOf(', that a single');
    select(editor, from, to);
    const out = (await vscode.commands.executeCommand<{ inserted: string; offset: number }>('rnnLab.continueSelection', { length: 40, seed: 7, runId }))!;
    assert.ok(out, api.errors.join(' | '));
    assert.strictEqual(Array.from(out.inserted).length, 40);
    assert.strictEqual(out.offset, to);
    assert.strictEqual(doc.getText(), before.slice(0, to) + out.inserted + before.slice(to));
    for (const ch of out.inserted) assert.ok(model.vocab!.includes(ch), `${JSON.stringify(ch)} is not in the vocabulary`);
    await vscode.commands.executeCommand('undo');
    assert.strictEqual(doc.getText(), before);
    // Length, temperature and top-k from the settings when not given.
    const cfg = vscode.workspace.getConfiguration('rnnLab');
    await cfg.update('continue.length', 7, vscode.ConfigurationTarget.Global);
    await cfg.update('continue.topK', 1, vscode.ConfigurationTarget.Global);
    try {
      select(editor, from, to);
      const greedy = (await vscode.commands.executeCommand<{ inserted: string }>('rnnLab.continueSelection'))!;
      assert.strictEqual(Array.from(greedy.inserted).length, 7);
      // top-k 1 is greedy decoding: the same text whatever the seed.
      await vscode.commands.executeCommand('undo');
      select(editor, from, to);
      const again = (await vscode.commands.executeCommand<{ inserted: string }>('rnnLab.continueSelection', { seed: 12345 }))!;
      assert.strictEqual(again.inserted, greedy.inserted);
      await vscode.commands.executeCommand('undo');
      assert.strictEqual(doc.getText(), before);
    } finally {
      await cfg.update('continue.length', undefined, vscode.ConfigurationTarget.Global);
      await cfg.update('continue.topK', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('decorations follow edits before them and clear when the text under them (or the context before it) changes', async () => {
    const doc = editor.document;
    const from = doc.getText().indexOf('this truth');
    select(editor, from, from + 60);
    await vscode.commands.executeCommand('rnnLab.runOnSelection', { runId });
    assert.strictEqual(api.selection.decorationsOf(doc)?.start, from);
    await editor.edit((b) => b.insert(doc.positionAt(0), 'X'));
    assert.strictEqual(api.selection.decorationsOf(doc)?.start, from + 1, 'an edit before the text moves it');
    await editor.edit((b) => b.insert(doc.positionAt(from + 200), 'Y'));
    assert.ok(api.selection.decorationsOf(doc), 'an edit after the text keeps it');
    await editor.edit((b) => b.insert(doc.positionAt(from + 11), 'Z'));
    assert.strictEqual(api.selection.decorationsOf(doc), undefined, 'an edit inside the text clears the decorations');
    assert.strictEqual(api.selection.legend(), '');
    // An edit in the context fed before the text changes the predictions too.
    const again = doc.getText().indexOf('this truth');
    select(editor, again, again + 60);
    await vscode.commands.executeCommand('rnnLab.runOnSelection', { runId });
    assert.strictEqual(api.selection.decorationsOf(doc)?.start, again);
    await editor.edit((b) => b.insert(doc.positionAt(again - 3), 'W'));
    assert.strictEqual(api.selection.decorationsOf(doc), undefined, 'an edit in the context clears the decorations');
    for (let i = 0; i < 4; i++) await vscode.commands.executeCommand('undo');
  });

  it('a selection over the cap is refused with one message, nothing run', async () => {
    const cfg = vscode.workspace.getConfiguration('rnnLab');
    await cfg.update('selection.maxChars', 50, vscode.ConfigurationTarget.Global);
    try {
      const doc = editor.document;
      select(editor, 0, 120);
      const before = api.errors.length;
      const r = await vscode.commands.executeCommand('rnnLab.runOnSelection', { runId });
      assert.strictEqual(r, undefined);
      assert.strictEqual(api.errors.length, before + 1);
      assert.match(api.errors[before], /selection is 120 characters, over the cap of 50 \(setting rnnLab.selection.maxChars\)/);
      assert.strictEqual(api.selection.decorationsOf(doc), undefined);
    } finally {
      await cfg.update('selection.maxChars', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('the current line when nothing is selected, with the last run used; a Runs view item; a 2,000-character selection (time printed, not asserted)', async () => {
    const doc = editor.document;
    const line = doc.lineAt(1);
    editor.selection = new vscode.Selection(line.range.start.translate(0, 3), line.range.start.translate(0, 3));
    // No argument: the run used last (no quick pick opens; the command would wait on it).
    const r = (await vscode.commands.executeCommand<RunOnSelectionResult>('rnnLab.runOnSelection'))!;
    assert.strictEqual(r.runId, runId);
    assert.strictEqual(r.start, doc.offsetAt(line.range.start));
    assert.strictEqual(r.length, line.text.length);
    const long = await vscode.workspace.openTextDocument({ content: corpus.repeat(6).slice(0, 2000), language: 'plaintext' });
    const e2 = await vscode.window.showTextDocument(long, { preview: false });
    e2.selection = new vscode.Selection(long.positionAt(0), long.positionAt(2000));
    const times: number[] = [];
    const engineMs: number[] = [];
    // What the Runs view's context menu passes: its tree item.
    const item = api.runs.getRuns().find((x) => x.id === runId);
    assert.ok(item);
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const big: RunOnSelectionResult = (await vscode.commands.executeCommand<RunOnSelectionResult>('rnnLab.runOnSelection', item))!;
      times.push(Date.now() - t0);
      engineMs.push(big.milliseconds);
      assert.strictEqual(big.chars!.length, 2000);
    }
    const t0 = Date.now();
    const inf = (await vscode.commands.executeCommand<Influence>('rnnLab.showInfluence', { offset: 1999 }))!;
    const infMs = Date.now() - t0;
    assert.strictEqual(inf.target, 1999);
    console.log(`MEASURE run on a 2,000-char selection (LSTM 1x32, ${hostKind} extension host): command ${times.join(', ')} ms (in the worker ${engineMs.map((m) => Math.round(m)).join(', ')} ms); Show Influence on char 2000: ${infMs} ms`);

    // A 2x128 LSTM (untrained) in a run folder written here: the work takes a while, in the
    // worker; the host's 20 ms timers keep firing meanwhile (lag printed).
    const mcfg = { ...DEFAULT_CONFIG, name: 'selection-medium', data: 'tiny.txt', cell: 'lstm' as const, layers: 2, hidden: 128, seqLength: 16, batch: 2, steps: 1 };
    const medium = 'selection-medium-untrained';
    const dir = api.store.runUri(medium);
    await vscode.workspace.fs.createDirectory(dir);
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(mcfg)));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'checkpoint.safetensors'), checkpointBytes(new Trainer(mcfg, datasetFor(mcfg, corpus))));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'summary.json'), new TextEncoder().encode(JSON.stringify({ status: 'stopped', step: 0 })));
    const lags: number[] = [];
    let last = Date.now();
    const ticker = setInterval(() => {
      const now = Date.now();
      lags.push(now - last - 20);
      last = now;
    }, 20);
    const m0 = Date.now();
    const med = (await vscode.commands.executeCommand<RunOnSelectionResult>('rnnLab.runOnSelection', { runId: medium }))!;
    const medMs = Date.now() - m0;
    const i0 = Date.now();
    const medInf = (await vscode.commands.executeCommand<Influence>('rnnLab.showInfluence', { offset: 1999 }))!;
    const medInfMs = Date.now() - i0;
    clearInterval(ticker);
    assert.strictEqual(med.chars!.length, 2000);
    assert.strictEqual(medInf.influence.length, 2000);
    // Cancel (the progress notification's button) terminates the worker mid-way: no result, no
    // error, and the next command works in a fresh worker.
    const errorsBefore = api.errors.length;
    const cancelled = vscode.commands.executeCommand<Influence | undefined>('rnnLab.showInfluence', { offset: 1998 });
    await waitUntil('the worker to be busy', () => api.selection.busy());
    api.selection.cancelWork();
    assert.strictEqual(await cancelled, undefined);
    assert.strictEqual(api.errors.length, errorsBefore);
    const again = (await vscode.commands.executeCommand<Influence>('rnnLab.showInfluence', { offset: 1998 }))!;
    assert.strictEqual(again.target, 1998);
    assert.ok(again.influence[1997] > 0);
    assert.ok(again.influence.slice(1998).every((v) => v === 0));
    lags.sort((a, b) => a - b);
    console.log(`MEASURE LSTM 2x128 on 2,000 chars: command ${medMs} ms (worker ${Math.round(med.milliseconds)} ms), Show Influence ${medInfMs} ms; host timer lag meanwhile: median ${lags[lags.length >> 1]} ms, max ${lags[lags.length - 1]} ms over ${lags.length} ticks`);
    await vscode.workspace.fs.delete(dir, { recursive: true });
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('a forecasting run on CSV rows: one-step-ahead prediction and error per row, in hovers', async () => {
    const rows = Array.from({ length: 240 }, (_, i) => `${i},${(10 + 5 * Math.sin(i / 6)).toFixed(3)}`);
    const csv = await writeWorkspaceFile('selection-series.csv', `t,value\n${rows.join('\n')}\n`);
    const config = await writeWorkspaceFile(
      'selection-series.rnn.json',
      JSON.stringify({ name: 'selection-gru', task: 'forecast', data: 'selection-series.csv', columns: ['value'], cell: 'gru', layers: 1, hidden: 16, seqLength: 20, batch: 4, steps: 60, lr: 0.01, seed: 2, diagEvery: 0 }),
    );
    const id = (await vscode.commands.executeCommand<string>('rnnLab.train', config))!;
    assert.strictEqual((await api.whenDone(id)!).status, 'finished');
    const doc = await vscode.workspace.openTextDocument(csv);
    const e = await vscode.window.showTextDocument(doc, { preview: false });
    e.selection = new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(31, 0));
    const r = (await vscode.commands.executeCommand<RunOnSelectionResult>('rnnLab.runOnSelection', { runId: id }))!;
    assert.ok(r, api.errors.join(' | '));
    assert.strictEqual(r.kind, 'series');
    assert.strictEqual(r.rows!.length, 31);
    assert.match(r.rows![0].problem!, /not a number/); // the header line
    assert.strictEqual(r.rows![1].predicted, null); // the first data row has nothing before it
    for (const row of r.rows!.slice(2)) {
      assert.ok(row.predicted && row.error && row.actual);
      assert.ok(Math.abs(row.actual[0] - (row.predicted[0] + row.error[0])) < 1e-9);
      assert.strictEqual(row.actual[0], Number(doc.lineAt(row.line).text.split(',')[1]));
    }
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(10, 1));
    const text = hovers.flatMap((h) => h.contents).map((m) => (typeof m === 'string' ? m : m.value)).find((v) => v.includes('RNN Lab'))!;
    assert.ok(text?.includes('| value |'), text);
    assert.strictEqual(api.selection.decorationsOf(doc)?.mode, 'series');
    e.selection = new vscode.Selection(new vscode.Position(10, 1), new vscode.Position(10, 1));
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('editor.action.showHover');
    await new Promise((r) => setTimeout(r, 700));
    await screenshot('selection-series');
    await vscode.commands.executeCommand('rnnLab.clearDecorations');
    assert.strictEqual(api.selection.decorationsOf(doc), undefined);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  async function waitUntil(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async function waitForMode(doc: vscode.TextDocument, mode: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (api.selection.decorationsOf(doc)?.mode !== mode) {
      if (Date.now() > deadline) throw new Error(`decorations never reached mode ${mode}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
