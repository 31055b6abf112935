import * as assert from 'assert';
import { validateConfig } from '../../src/engine/config';
import { EngineError } from '../../src/engine/errors';
import { decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors';
import { encodeSeq2SeqCheckpoint, loadSeq2SeqCheckpoint } from '../../src/engine/seq2seqCheckpoint';
import { importSeq2SeqAsRun, isSeq2SeqStateDict } from '../../src/engine/seq2seqImport';
import { Seq2SeqTrainer, seq2seqData } from '../../src/engine/seq2seqTrainer';

/** A trained-from-init seq2seq model's state_dict: with RNN Lab's metadata, or bare (as torch's save_file writes it). */
function stateDict(raw: Record<string, unknown>, bare: boolean) {
  const { config } = validateConfig({ name: 's2s', task: 'reverse', hidden: 5, embedding: 3, heldOut: 5, seed: 4, ...raw });
  const t = new Seq2SeqTrainer(config, seq2seqData(config));
  const ckpt = encodeSeq2SeqCheckpoint(t.model, config, t.data.srcVocab, t.data.tgtVocab, 7);
  if (!bare) return { bytes: ckpt, trainer: t };
  const { tensors } = decodeSafetensors(ckpt);
  return { bytes: encodeSafetensors([...tensors].map(([name, x]) => ({ name, shape: x.shape, data: x.data })), {}), trainer: t };
}

const refused = (pattern: RegExp) => (e: unknown) => e instanceof EngineError && pattern.test(e.message) && !e.line.includes('\n');

describe('seq2seq import', () => {
  it("takes RNN Lab's own export back whole: config, vocabularies, weights", () => {
    const { bytes, trainer } = stateDict({ cell: 'lstm', layers: 2, attention: 'additive', attentionSize: 4 }, false);
    assert.ok(isSeq2SeqStateDict(decodeSafetensors(bytes)));
    const run = importSeq2SeqAsRun(bytes, 'm.safetensors', { name: 'back' });
    const loaded = loadSeq2SeqCheckpoint(run.checkpoint, 'imported');
    assert.strictEqual(run.config.task, 'reverse');
    assert.strictEqual(run.config.name, 'back');
    assert.deepStrictEqual([loaded.config.cell, loaded.config.layers, loaded.config.attention, loaded.model.spec.attentionSize], ['lstm', 2, 'additive', 4]);
    assert.deepStrictEqual(loaded.srcVocab.tokens, trainer.data.srcVocab.tokens);
    assert.deepStrictEqual(Array.from(loaded.model.params.data), Array.from(trainer.model.params.data));
    assert.strictEqual(loaded.step, 7);
    assert.deepStrictEqual(run.diagnostics.spectrum.map((s) => s.block).slice(0, 5), ['encoder.i', 'encoder.f', 'encoder.g', 'encoder.o', 'encoder.all']);
  });

  it('reads a bare state_dict off its names and shapes, with the vocabularies from JSON', () => {
    for (const [attention, cell] of [['general', 'gru'], ['dot', 'rnn'], ['none', 'lstm']] as const) {
      const { bytes, trainer } = stateDict({ cell, attention }, true);
      const vocab = JSON.stringify({ source: trainer.data.srcVocab.tokens.slice(3), target: [...trainer.data.tgtVocab.tokens] });
      const run = importSeq2SeqAsRun(bytes, 'm.safetensors', { name: 'bare', vocabText: vocab, vocabSource: 'v.json' });
      const loaded = loadSeq2SeqCheckpoint(run.checkpoint, 'imported');
      assert.deepStrictEqual([loaded.config.cell, loaded.config.attention, loaded.config.hidden, loaded.config.embedding, loaded.config.tokenization], [cell, attention, 5, 3, 'char']);
      assert.strictEqual(run.config.task, 'seq2seq');
      assert.deepStrictEqual(loaded.tgtVocab.tokens, trainer.data.tgtVocab.tokens);
      assert.deepStrictEqual(Array.from(loaded.model.params.data), Array.from(trainer.model.params.data));
      assert.strictEqual(run.warnings.length, cell === 'lstm' ? 0 : 1);
    }
  });

  it('refuses, in one line naming what is wrong: no vocabularies, their size, a missing, extra or misshapen tensor', () => {
    const { bytes, trainer } = stateDict({ cell: 'gru', attention: 'dot' }, true);
    const vocab = JSON.stringify({ source: trainer.data.srcVocab.tokens.slice(3), target: trainer.data.tgtVocab.tokens.slice(3) });
    assert.throws(() => importSeq2SeqAsRun(bytes, 'm.safetensors', { name: 'x' }), refused(/m\.safetensors: a seq2seq model .* no vocabularies/));
    assert.throws(() => importSeq2SeqAsRun(bytes, 'm.safetensors', { name: 'x', vocabText: '{"source": ["a"], "target": ["b"]}' }), refused(/vocabularies have 4 source and 4 target tokens, the embeddings 13 and 13 rows/));
    assert.throws(() => importSeq2SeqAsRun(bytes, 'm.safetensors', { name: 'x', vocabText: '["a"]', vocabSource: 'v.json' }), refused(/v\.json is not a JSON object/));
    const { tensors } = decodeSafetensors(bytes);
    const edit = (f: (list: { name: string; shape: number[]; data: Float64Array }[]) => typeof list) => encodeSafetensors(f([...tensors].map(([name, x]) => ({ name, shape: x.shape, data: x.data }))), {});
    assert.throws(() => importSeq2SeqAsRun(edit((l) => l.filter((t) => t.name !== 'attention.combine.weight')), 'm', { name: 'x', vocabText: vocab }), refused(/the tensor decoder\.weight_ih_l0 .* has shape|decoder\.weight_ih_l0 has shape/));
    assert.throws(() => importSeq2SeqAsRun(edit((l) => l.filter((t) => t.name !== 'head.bias')), 'm', { name: 'x', vocabText: vocab }), refused(/the tensor head\.bias of a GRU 1x5 model with dot attention is missing/));
    assert.throws(() => importSeq2SeqAsRun(edit((l) => [...l, { name: 'extra.weight', shape: [1], data: new Float64Array(1) }]), 'm', { name: 'x', vocabText: vocab }), refused(/1 tensor the seq2seq model does not have: extra\.weight/));
    assert.throws(() => importSeq2SeqAsRun(edit((l) => l.map((t) => (t.name === 'encoder.weight_hh_l0' ? { ...t, shape: [10, 5], data: t.data.subarray(0, 50) } : t))), 'm', { name: 'x', vocabText: vocab }), refused(/2 gate blocks, not 1 \(RNN\), 3 \(GRU\) or 4 \(LSTM\)/));
  });
});
