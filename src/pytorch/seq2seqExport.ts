/**
 * The seq2seq parts of a PyTorch project (src/pytorch/export.ts): data/examples.json and the README.
 *
 * examples.json holds what data.py cannot rebuild from the run config alone, as the engine built it:
 *   heldOut  [{src, tgt, source, target}]  the held-out set (ids without BOS/EOS), in the engine's order;
 *            for a generated task its keys are also what the training stream rejects
 *   train    [{src, tgt}]                  a pairs file's training examples (task "seq2seq" only), in the
 *            order seq2seqData draws them by index; data.py ports the draw (Rng(seed * 2 + 7))
 * A generated task's training stream is ported to data.py example for example (its seeded PRNG and
 * its rule), so no training example is written for it.
 */
import { EngineError } from '../engine/errors';
import { dataFingerprint } from '../engine/resume';
import { pairFormatOf, readPairs } from '../engine/seq2seq/pairs';
import { seq2seqData } from '../engine/seq2seqTrainer';
import type { RunConfig } from '../protocol/config';
import { howToRun } from './readme';

const ids = (e: { src: readonly number[]; tgt: readonly number[] }) => ({ src: e.src, tgt: e.tgt });

/** data/examples.json of a seq2seq run; `data` is the pairs file (task "seq2seq") or empty. */
export function seq2seqExamples(config: RunConfig, metadata: Record<string, string>, data: Uint8Array, dataName: string): string {
  if (config.task !== 'seq2seq') {
    const heldOut = seq2seqData(config).heldOut.map((e) => ({ ...ids(e), source: e.source, target: e.target }));
    return JSON.stringify({ heldOut }) + '\n';
  }
  const text = new TextDecoder().decode(data);
  if (dataFingerprint(text) !== metadata.data) {
    throw new EngineError('bad-config', `${dataName} is not the pairs file the run was trained on (its fingerprint differs)`, 'Pass the run\'s own pairs file with --data FILE.');
  }
  // The engine's reading of the pairs file (seq2seqTrainer.ts seq2seqData): the same options, so the same split and ids.
  const d = readPairs(text, config.data || 'pairs', { format: pairFormatOf(config.data || 'pairs.tsv'), tokenization: config.tokenization, seed: config.seed });
  return JSON.stringify({ train: d.train.map(ids), heldOut: d.heldOut.map((e) => ({ ...ids(e), source: e.source, target: e.target })) }) + '\n';
}

export function seq2seqReadme(config: RunConfig, step: number, source: string): string {
  const data = config.task === 'seq2seq' ? `pairs file ${config.data}` : `generated task ${config.task}`;
  return `# ${config.name} in PyTorch

The RNN Lab seq2seq run \`${source}\` (${config.cell.toUpperCase()} ${config.layers}x${config.hidden} encoder and
decoder, ${config.attention} attention, ${data}), exported at step ${step} to continue in PyTorch.

${howToRun(step)} Every
process draws the same global batch of ${config.batch} examples from the run's seeded stream and
trains a contiguous share of its rows, so the losses are the single process's.

## What it does

\`train.py\` continues from the last checkpoint generation (\`run/\`): the weights, the optimizer's
moments and step count, the learning-rate schedule, the clipping, the position of the training
stream and the PRNG that scheduled sampling (teacher forcing ${config.teacherForcing}) draws from.
\`--steps\` is the total step count, as \`rnn-lab train --resume\` takes it. In float64 on the CPU
its losses are RNN Lab's, step for step (to rounding).

It writes an RNN Lab run folder (default: a new folder beside the original run): config.json,
metrics.jsonl, diagnostics.jsonl (sigma_1 of each W_hh gate block of the encoder and the decoder,
gate saturation, the encoder gradient flow through the attention and through the final state),
eval.jsonl (greedy exact match and token accuracy on the held-out set, with the attention of the
pinned examples), checkpoint.safetensors and resume.safetensors. RNN Lab shows it while it trains,
\`rnn-lab translate RUN_DIR "text"\` uses it, and \`rnn-lab train --resume RUN_DIR --steps N\` continues it.

- \`model.py\`: the encoder-decoder in torch.nn; \`load_state_dict(strict=True)\` takes \`run/checkpoint.safetensors\`
- \`data.py\`: the run's vocabularies, its seeded training stream and batches
- \`data/examples.json\`: the held-out set${config.task === 'seq2seq' ? " and the pairs file's training examples, as RNN Lab read them" : ''}
- \`rnnlab_logger.py\`: the run-folder format and the diagnostics, usable in any PyTorch script
`;
}
