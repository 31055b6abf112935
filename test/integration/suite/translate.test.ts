import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { TranslateResult } from '../../../src/extension/commands/translate';
import { activateExtension, extensionId, screenshot, sleep, waitFor } from './helpers';

/** The committed run: media/examples/reverse-dot.rnn.json trained by `rnn-lab train` (600 steps, 100% held-out exact match). */
const fixtureId = '20261207-051700-reverse-dot';

/** A file of this extension's folder (served over http in the web host). */
async function extensionFile(path: string): Promise<Uint8Array> {
  const uri = vscode.Uri.joinPath(vscode.extensions.getExtension(extensionId)!.extensionUri, path);
  if (uri.scheme === 'http' || uri.scheme === 'https') {
    const res = await fetch(uri.toString(true), { cache: 'no-store' });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  return vscode.workspace.fs.readFile(uri);
}

/**
 * Translate Selection in the real host, on the committed reverse-dot run: the outputs beside the
 * source equal `rnn-lab translate`'s for the same run (test/fixtures/translate-reverse-dot.txt),
 * hovering an output token lights the source token it attended to (the anti-diagonal), hovering a
 * source token lights the outputs, Insert Translation is one edit that one Undo takes back, and
 * each bad case is one message.
 */
describe('RNN Lab: Translate Selection', function () {
  this.timeout(120_000);
  let api: RnnLabApi;
  let cliOutputs: string[];

  before(async () => {
    api = await activateExtension();
    const dir = api.store.runUri(fixtureId);
    for (const f of ['config.json', 'summary.json', 'checkpoint.safetensors']) {
      await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, f), await extensionFile(`test/fixtures/runs/${fixtureId}/${f}`));
    }
    await api.refreshRuns();
    const expected = new TextDecoder().decode(await extensionFile('test/fixtures/translate-reverse-dot.txt'));
    cliOutputs = expected.split('\n').filter((l) => l.includes(' -> ')).map((l) => l.split(' -> ')[1]);
    assert.deepStrictEqual(cliOutputs, ['54321', '43709']);
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('shows the outputs beside the source, as rnn-lab translate gives them; hover lights the attention both ways; Insert Translation is one undoable edit', async () => {
    const doc = await vscode.workspace.openTextDocument({ content: 'Reverse these:\n12345\n\n90734\nend\n', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.One });
    editor.selection = new vscode.Selection(1, 0, 4, 0);
    const r = (await vscode.commands.executeCommand<TranslateResult>('rnnLab.translateSelection', { id: fixtureId }))!;
    assert.ok(r, api.errors.at(-1));
    assert.deepStrictEqual(r.lines.map((l) => [l.line, l.source, l.output]), [
      [1, '12345', cliOutputs[0]],
      [2, '', ''],
      [3, '90734', cliOutputs[1]],
    ]);
    assert.strictEqual(r.beam, 0);
    const out = vscode.workspace.textDocuments.find((d) => d.uri.toString() === r.translationUri)!;
    assert.ok(out, 'the translation document is not open');
    // Each output on its source's line number: the two documents read across.
    assert.strictEqual(out.getText(), `\n${cliOutputs[0]}\n\n${cliOutputs[1]}`);
    await waitFor('the translation beside the source', () => vscode.window.visibleTextEditors.some((e) => e.document === out) || undefined);

    // Hover the first output token of 90734 -> 43709: '4' attends to the source's last character.
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', out.uri, new vscode.Position(3, 0));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /output token 1 of 5: `4`/);
    const lit = api.translate.highlight()!;
    assert.strictEqual(lit.from, 'output');
    const best = lit.lit.reduce((a, b) => (b.weight > a.weight ? b : a));
    assert.strictEqual(best.uri, doc.uri.toString());
    assert.deepStrictEqual([best.range.start.line, best.range.start.character, best.range.end.character, best.text], [3, 4, 5, '4']);
    assert.ok(best.weight > 0.5, `weight ${best.weight}`);
    for (const h of lit.lit) assert.strictEqual(doc.getText(h.range), h.text);

    // Hover the source's '1' of 12345: the output '1' (last) attended to it most.
    await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(1, 0));
    const back = api.translate.highlight()!;
    assert.strictEqual(back.from, 'source');
    const top = back.lit.reduce((a, b) => (b.weight > a.weight ? b : a));
    assert.deepStrictEqual([top.uri, top.range.start.line, top.range.start.character, top.text], [out.uri.toString(), 1, 4, '1']);

    // The screenshot: the translation beside the source with a hover on an output token.
    const outEditor = await vscode.window.showTextDocument(out, { viewColumn: vscode.ViewColumn.Two, preserveFocus: false });
    outEditor.selection = new vscode.Selection(3, 1, 3, 1);
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('editor.action.showHover');
    await sleep(800);
    await screenshot('translate-selection-hover');
    await vscode.commands.executeCommand('editor.action.hideHover');

    // Insert Translation: one edit after the selection; one Undo restores the text.
    const before = doc.getText();
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One });
    const ins = (await vscode.commands.executeCommand<{ inserted: string; offset: number }>('rnnLab.insertTranslation'))!;
    assert.ok(ins, api.errors.at(-1));
    assert.strictEqual(doc.getText(), `Reverse these:\n12345\n\n90734\n${cliOutputs[0]}\n\n${cliOutputs[1]}\nend\n`);
    assert.ok(api.translate.of(doc), 'an insertion after the translated lines dropped the translation');
    await vscode.commands.executeCommand('undo');
    assert.strictEqual(doc.getText(), before);

    // Beam search from the setting: on this run it agrees with greedy (as rnn-lab translate --beam 3 does).
    const cfg = vscode.workspace.getConfiguration('rnnLab');
    await cfg.update('translate.beamWidth', 3, vscode.ConfigurationTarget.Global);
    try {
      const active = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One });
      active.selection = new vscode.Selection(1, 0, 4, 0);
      const beam = (await vscode.commands.executeCommand<TranslateResult>('rnnLab.translateSelection', { id: fixtureId }))!;
      assert.ok(beam, api.errors.at(-1));
      assert.strictEqual(beam.beam, 3);
      assert.deepStrictEqual(beam.lines.map((l) => l.output), [cliOutputs[0], '', cliOutputs[1]]);
    } finally {
      await cfg.update('translate.beamWidth', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('gives one clear message for each bad case', async () => {
    const doc = await vscode.workspace.openTextDocument({ content: 'abc\n\n', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One });
    const errorFor = async (arg: unknown): Promise<string> => {
      const n = api.errors.length;
      const r = await vscode.commands.executeCommand('rnnLab.translateSelection', arg);
      assert.strictEqual(r, undefined);
      assert.strictEqual(api.errors.length, n + 1, `expected one message, got ${api.errors.slice(n).join(' | ')}`);
      return api.errors[n];
    };
    editor.selection = new vscode.Selection(1, 0, 1, 0);
    assert.match(await errorFor({ id: fixtureId }), /the selection is empty/);
    editor.selection = new vscode.Selection(0, 0, 0, 3);
    // A language model picked by id (a recorded run's config: the kind is refused before its model is looked for).
    const lm = '20261207-060000-austen-lm';
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(api.store.runUri(lm), 'config.json'), await extensionFile('test/fixtures/runs/20261123-170500-austen-lstm/config.json'));
    // A seq2seq run without a checkpoint.
    const bare = '20261207-060000-reverse-no-model';
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(api.store.runUri(bare), 'config.json'), await extensionFile(`test/fixtures/runs/${fixtureId}/config.json`));
    await api.refreshRuns();
    assert.match(await errorFor({ id: lm }), new RegExp(`run ${lm} is a character language model, not a seq2seq run`));
    assert.match(await errorFor({ id: bare }), new RegExp(`run ${bare} has no model yet`));
    // Characters outside the task's alphabet: translated without them, with a warning, not refused.
    const n = api.errors.length;
    const r = (await vscode.commands.executeCommand<TranslateResult>('rnnLab.translateSelection', { id: fixtureId }))!;
    assert.strictEqual(api.errors.length, n, api.errors.slice(n).join(' | '));
    assert.strictEqual(r.lines[0].output, '');
    assert.match(r.lines[0].warnings.join(' '), /3 source tokens not in the run's vocabulary/);
    for (const id of [bare, lm]) await vscode.workspace.fs.delete(api.store.runUri(id), { recursive: true });
    await api.refreshRuns();
  });
});
