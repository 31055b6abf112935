/**
 * A run's checkpoint (safetensors with PyTorch state_dict names; the run config, vocabulary or
 * series statistics in __metadata__) back into a Network. Pure: the CLI reads the bytes with
 * node:fs, the extension with vscode.workspace.fs.
 */
import type { RunConfig } from '../protocol/config';
import { validateConfig } from './config';
import type { Dataset } from './data';
import { EngineError } from './errors';
import { Network } from './network';
import { decodeSafetensors, encodeSafetensors } from './safetensors';
import { modelSpecFor } from './modelSpec';

export interface LoadedModel {
  net: Network;
  config: RunConfig;
  vocab?: string[];
  /** Forecasting runs: the CSV columns and the training split's normalisation. */
  series?: { columns: string[]; mean: number[]; std: number[] };
}

export function loadCheckpoint(bytes: Uint8Array, where: string): LoadedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, where);
  if (!metadata.config) throw new EngineError('bad-checkpoint', `${where} has no run config in its metadata`, 'Pick a checkpoint written by RNN Lab.');
  let meta: { config: unknown; vocab?: string[]; series?: { columns: string[]; mean: number[]; std: number[] } };
  try {
    meta = { config: JSON.parse(metadata.config), vocab: metadata.vocab ? JSON.parse(metadata.vocab) : undefined, series: metadata.series ? JSON.parse(metadata.series) : undefined };
  } catch (e) {
    throw new EngineError('bad-checkpoint', `${where}: metadata is not valid JSON (${(e as Error).message})`, 'Pick a checkpoint written by RNN Lab.');
  }
  const config = validateConfig(meta.config, `${where} metadata`).config;
  let dataset: Dataset;
  if (Array.isArray(meta.vocab) && meta.vocab.every((c) => typeof c === 'string')) {
    dataset = { kind: 'text', vocab: meta.vocab, train: new Int32Array(0), val: new Int32Array(0) };
  } else if (meta.series && Array.isArray(meta.series.columns)) {
    const s = meta.series;
    dataset = { kind: 'series', columns: s.columns, channels: s.columns.length, train: new Float64Array(0), val: new Float64Array(0), mean: s.mean, std: s.std };
  } else {
    throw new EngineError('bad-checkpoint', `${where} has neither a vocabulary nor series columns in its metadata`, 'Pick a checkpoint written by RNN Lab.');
  }
  const net = new Network({ ...modelSpecFor(config, dataset), dropout: 0 });
  for (const t of net.params.tensors) {
    const src = tensors.get(t.name);
    if (!src || src.data.length !== t.size || src.shape.join() !== t.shape.join()) {
      throw new EngineError('bad-checkpoint', `${where}: tensor ${t.name} is missing or not of shape [${t.shape}]`, 'The checkpoint does not match its own config.');
    }
    net.params.view(t.name).set(src.data);
  }
  return { net, config, vocab: dataset.kind === 'text' ? dataset.vocab : undefined, series: dataset.kind === 'series' ? { columns: dataset.columns, mean: dataset.mean, std: dataset.std } : undefined };
}

export const CHECKPOINT_FORMAT = 'rnn-lab/1';

/**
 * A network's parameters as a safetensors file with PyTorch state_dict names (float64, lossless);
 * the run config and the vocabulary or series statistics in __metadata__, plus `extra` keys.
 */
export function encodeCheckpoint(net: Network, config: RunConfig, dataset: Dataset, step: number, extra: Record<string, string> = {}): Uint8Array {
  const p = net.params;
  const tensors = p.tensors.map((t) => ({ name: t.name, shape: t.shape, data: p.data.subarray(t.offset, t.offset + t.size) }));
  return encodeSafetensors(tensors, checkpointMetadata(config, dataset, step, extra));
}

/** encodeCheckpoint's __metadata__, in its order. */
export function checkpointMetadata(config: RunConfig, dataset: Dataset, step: number, extra: Record<string, string> = {}): Record<string, string> {
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, config: JSON.stringify(config), step: String(step), ...extra };
  if (dataset.kind === 'text') metadata.vocab = JSON.stringify(dataset.vocab);
  else metadata.series = JSON.stringify({ columns: dataset.columns, mean: dataset.mean, std: dataset.std });
  return metadata;
}
