import * as assert from 'assert';
import * as vscode from 'vscode';
import type { RnnLabApi } from '../../../src/extension/extension';
import type { DiagnosticsRecord, RunConfig } from '../../../src/protocol/config';
import { encodeSafetensors, type NamedTensor } from '../../../src/engine/safetensors';
import { activateExtension, screenshot, waitFor } from './helpers';
import { validateConfig } from '../../../src/engine/config';
import { decodeSafetensors } from '../../../src/engine/safetensors';
import { encodeSeq2SeqCheckpoint, loadSeq2SeqCheckpoint } from '../../../src/engine/seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData } from '../../../src/engine/seq2seqTrainer';

const decoder = new TextDecoder();

/** A PyTorch-style state_dict: nn.GRU(3, 4) under `rnn.`, nn.Linear(4, 3) as `head`. */
function gruStateDict(): NamedTensor[] {
  const r = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => (((i * k) % 13) - 6) / 16);
  return [
    { name: 'rnn.weight_ih_l0', shape: [12, 3], data: r(36, 5) },
    { name: 'rnn.weight_hh_l0', shape: [12, 4], data: r(48, 7) },
    { name: 'rnn.bias_ih_l0', shape: [12], data: r(12, 3) },
    { name: 'rnn.bias_hh_l0', shape: [12], data: r(12, 2) },
    { name: 'head.weight', shape: [3, 4], data: r(12, 11) },
    { name: 'head.bias', shape: [3], data: r(3, 1) },
  ];
}

async function entries(root: vscode.Uri): Promise<string[]> {
  try {
    return (await vscode.workspace.fs.readDirectory(root)).map(([n]) => n).sort();
  } catch {
    return [];
  }
}

describe('RNN Lab: Import PyTorch Checkpoint', () => {
  let api: RnnLabApi;
  let dir: vscode.Uri;

  before(async () => {
    api = await activateExtension();
    dir = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, '.rnn-lab', 'import-test');
    await vscode.workspace.fs.createDirectory(dir);
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'gru.safetensors'), encodeSafetensors(gruStateDict(), {}));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'abc.txt'), new TextEncoder().encode('abcabcbca'));
  });

  it('infers a GRU 1x4 from names and shapes, takes the vocabulary from a text file, and makes a run sampling can use', async () => {
    const id = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', {
      file: vscode.Uri.joinPath(dir, 'gru.safetensors'),
      vocab: vscode.Uri.joinPath(dir, 'abc.txt'),
      name: 'imported-gru',
    });
    assert.ok(id, `import failed: ${api.errors[api.errors.length - 1]}`);
    const run = vscode.Uri.joinPath(api.store.root, id);
    const config = JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(run, 'config.json')))) as RunConfig;
    assert.strictEqual(config.cell, 'gru');
    assert.strictEqual(config.gruVariant, 'reset_after');
    assert.strictEqual(config.hidden, 4);
    assert.strictEqual(config.layers, 1);
    assert.strictEqual(config.task, 'charlm');
    const diag = JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(run, 'diagnostics.jsonl')))) as DiagnosticsRecord;
    assert.deepStrictEqual(diag.spectrum.map((s) => s.block), ['r', 'z', 'n', 'all']);
    assert.ok(diag.spectrum.every((s) => s.sigma1 > 0 && Number.isFinite(s.sigma1)));
    await waitFor('the Runs view to list the imported run', () => (api.runs.getRuns().some((r) => r.id === id) ? true : undefined));
    await vscode.commands.executeCommand('workbench.view.extension.rnnLab');
    await screenshot('import-checkpoint');
    const text = await vscode.commands.executeCommand<string>('rnnLab.sample', { runId: id, temperature: 1, length: 40, prime: 'ab' });
    assert.ok(typeof text === 'string', `sampling failed: ${api.errors[api.errors.length - 1]}`);
    assert.strictEqual(text.length, 42);
    assert.match(text, /^[abc]+$/);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('a vanilla RNN: its nonlinearity, which a state_dict does not record, comes from the caller (asked in a quick pick otherwise)', async () => {
    const r = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => (((i * k) % 13) - 6) / 16);
    const rnn: NamedTensor[] = [
      { name: 'weight_ih_l0', shape: [4, 3], data: r(12, 5) },
      { name: 'weight_hh_l0', shape: [4, 4], data: r(16, 7) },
      { name: 'bias_ih_l0', shape: [4], data: r(4, 3) },
      { name: 'bias_hh_l0', shape: [4], data: r(4, 2) },
    ];
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'rnn-relu.safetensors'), encodeSafetensors(rnn, {}));
    const id = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', {
      file: vscode.Uri.joinPath(dir, 'rnn-relu.safetensors'),
      vocab: vscode.Uri.joinPath(dir, 'abc.txt'),
      name: 'imported-rnn-relu',
      activation: 'relu',
    });
    assert.ok(id, `import failed: ${api.errors[api.errors.length - 1]}`);
    const config = JSON.parse(decoder.decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.root, id, 'config.json')))) as RunConfig;
    assert.strictEqual(config.cell, 'rnn');
    assert.strictEqual(config.rnnActivation, 'relu');
    await vscode.workspace.fs.delete(vscode.Uri.joinPath(api.store.root, id), { recursive: true });
  });

  it('a truncated file: one clear error naming the problem, nothing created in the run store', async () => {
    const good = encodeSafetensors(gruStateDict(), {});
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'truncated.safetensors'), good.subarray(0, good.length - 10));
    const before = await entries(api.store.root);
    const errors = api.errors.length;
    const id = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: vscode.Uri.joinPath(dir, 'truncated.safetensors'), vocab: 'none' });
    assert.strictEqual(id, undefined);
    assert.strictEqual(api.errors.length, errors + 1);
    assert.match(api.errors[api.errors.length - 1], /truncated\.safetensors is not a valid safetensors file: tensor head\.bias overruns the data/);
    assert.deepStrictEqual(await entries(api.store.root), before);
  });

  it('shapes that do not fit and a vocabulary of the wrong size are refused the same way', async () => {
    const bad = gruStateDict().map((t) => (t.name === 'head.weight' ? { ...t, shape: [4, 3] } : t));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'badshape.safetensors'), encodeSafetensors(bad, {}));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'abcd.txt'), new TextEncoder().encode('abcd'));
    const before = await entries(api.store.root);
    const r1 = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: vscode.Uri.joinPath(dir, 'badshape.safetensors'), vocab: 'none' });
    assert.strictEqual(r1, undefined);
    assert.match(api.errors[api.errors.length - 1], /head\.weight has shape \[4,3\], expected \[outputs, 4\]/);
    const r2 = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: vscode.Uri.joinPath(dir, 'gru.safetensors'), vocab: vscode.Uri.joinPath(dir, 'abcd.txt') });
    assert.strictEqual(r2, undefined);
    assert.match(api.errors[api.errors.length - 1], /vocabulary from .*abcd\.txt has 4 symbols but the model takes one-hot inputs of 3/);
    assert.deepStrictEqual(await entries(api.store.root), before);
  });

  it('a seq2seq state_dict (no metadata) with a JSON of its vocabularies becomes a seq2seq run; a vocabulary of the wrong size is refused', async () => {
    const { config } = validateConfig({ name: 's', task: 'reverse', cell: 'gru', hidden: 4, embedding: 3, attention: 'dot', heldOut: 3 });
    const t = new Seq2SeqTrainer(config, seq2seqData(config));
    const { tensors } = decodeSafetensors(encodeSeq2SeqCheckpoint(t.model, config, t.data.srcVocab, t.data.tgtVocab, 0));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 's2s.safetensors'), encodeSafetensors([...tensors].map(([name, x]) => ({ name, shape: x.shape, data: x.data })), {}));
    const digits = [...'0123456789'];
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 's2s.vocab.json'), new TextEncoder().encode(JSON.stringify({ source: digits, target: digits })));
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, 'short.vocab.json'), new TextEncoder().encode(JSON.stringify({ source: ['0'], target: ['0'] })));
    const before = await entries(api.store.root);
    const refused = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: vscode.Uri.joinPath(dir, 's2s.safetensors'), vocab: vscode.Uri.joinPath(dir, 'short.vocab.json') });
    assert.strictEqual(refused, undefined);
    assert.match(api.errors[api.errors.length - 1], /s2s\.safetensors: the vocabularies have 4 source and 4 target tokens, the embeddings 13 and 13 rows/);
    assert.deepStrictEqual(await entries(api.store.root), before);
    const id = await vscode.commands.executeCommand<string>('rnnLab.importCheckpoint', { file: vscode.Uri.joinPath(dir, 's2s.safetensors'), vocab: vscode.Uri.joinPath(dir, 's2s.vocab.json'), name: 'imported-s2s' });
    assert.ok(id, `import failed: ${api.errors[api.errors.length - 1]}`);
    const loaded = loadSeq2SeqCheckpoint(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(api.store.root, id, 'checkpoint.safetensors')), id);
    assert.deepStrictEqual([loaded.config.task, loaded.config.cell, loaded.config.attention, loaded.config.hidden], ['seq2seq', 'gru', 'dot', 4]);
    assert.deepStrictEqual(loaded.srcVocab.tokens.slice(3), digits);
    assert.deepStrictEqual(Array.from(loaded.model.params.data), Array.from(t.model.params.data));
    await vscode.workspace.fs.delete(vscode.Uri.joinPath(api.store.root, id), { recursive: true });
  });
});
