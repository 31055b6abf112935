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
import { parseJson } from './json';
import { paramCount } from './budget';

export interface LoadedModel {
  net: Network;
  config: RunConfig;
  vocab?: string[];
  /** Forecasting runs: the CSV columns and the training split's normalisation. */
  series?: { columns: string[]; mean: number[]; std: number[] };
}

const PICK = 'Pick a checkpoint written by RNN Lab.';

/** The vocabulary in a checkpoint's metadata: a non-empty list of distinct strings. */
function checkVocab(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) throw new EngineError('bad-checkpoint', `${where}: metadata "vocab" is not a list of strings`, PICK);
  if (v.length === 0) throw new EngineError('bad-checkpoint', `${where}: metadata "vocab" is empty (a character model needs at least one symbol)`, PICK);
  const seen = new Set<string>();
  for (const c of v) {
    if (seen.has(c)) throw new EngineError('bad-checkpoint', `${where}: metadata "vocab" lists the symbol ${JSON.stringify(c.slice(0, 20))} twice`, PICK);
    seen.add(c);
  }
  return v;
}

/** A forecaster's columns and normalisation: one finite mean and one finite, positive std per column. */
function checkSeries(s: unknown, where: string): { columns: string[]; mean: number[]; std: number[] } {
  const bad = (what: string): never => {
    throw new EngineError('bad-checkpoint', `${where}: metadata "series" ${what}`, PICK);
  };
  if (!s || typeof s !== 'object' || Array.isArray(s)) return bad('is not an object');
  const { columns, mean, std } = s as Record<string, unknown>;
  if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string')) return bad('has no list of column names');
  const C = columns.length;
  if (!Array.isArray(mean) || mean.length !== C || !mean.every((m) => typeof m === 'number' && Number.isFinite(m))) return bad(`"mean" is not ${C} finite numbers`);
  if (!Array.isArray(std) || std.length !== C || !std.every((m) => typeof m === 'number' && Number.isFinite(m) && m > 0)) return bad(`"std" is not ${C} finite numbers above 0`);
  return { columns, mean, std } as { columns: string[]; mean: number[]; std: number[] };
}

/**
 * Checks and loads a checkpoint: the metadata (config, vocabulary or series statistics) is
 * validated, the model's size is checked against the tensors the file holds before the network
 * is allocated, and every tensor must have its shape and only finite values.
 */
export function loadCheckpoint(bytes: Uint8Array, where: string): LoadedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, where);
  if (!metadata.config) throw new EngineError('bad-checkpoint', `${where} has no run config in its metadata`, PICK);
  const json = (key: string) => parseJson(metadata[key], `${where}: metadata "${key}"`, 'bad-checkpoint', PICK);
  const config = validateConfig(json('config'), `${where} metadata`).config;
  let dataset: Dataset;
  if (metadata.vocab !== undefined && metadata.vocab !== '') {
    dataset = { kind: 'text', vocab: checkVocab(json('vocab'), where), train: new Int32Array(0), val: new Int32Array(0) };
  } else if (metadata.series !== undefined && metadata.series !== '') {
    const s = checkSeries(json('series'), where);
    dataset = { kind: 'series', columns: s.columns, channels: s.columns.length, train: new Float64Array(0), val: new Float64Array(0), mean: s.mean, std: s.std };
  } else {
    throw new EngineError('bad-checkpoint', `${where} has neither a vocabulary nor series columns in its metadata`, PICK);
  }
  const spec = { ...modelSpecFor(config, dataset), dropout: 0 };
  // A config that claims a bigger model than the file holds is refused before allocating it.
  let held = 0;
  for (const t of tensors.values()) held += t.data.length;
  const needed = paramCount(spec);
  if (needed > held) {
    throw new EngineError('bad-checkpoint', `${where}: tensors are missing or not of the shape its config gives (${needed.toLocaleString('en-US')} parameters; the file holds ${held.toLocaleString('en-US')} values)`, 'The checkpoint does not match its own config.');
  }
  const net = new Network(spec);
  for (const t of net.params.tensors) {
    const src = tensors.get(t.name);
    if (!src || src.data.length !== t.size || src.shape.join() !== t.shape.join()) {
      throw new EngineError('bad-checkpoint', `${where}: tensor ${t.name} is missing or not of shape [${t.shape}]`, 'The checkpoint does not match its own config.');
    }
    const at = src.data.findIndex((x) => !Number.isFinite(x));
    if (at >= 0) {
      throw new EngineError('bad-checkpoint', `${where}: tensor ${t.name} holds ${src.data[at]} at index ${at} (weights must be finite numbers)`, 'Use an earlier checkpoint or retrain; a model with non-finite weights predicts nothing.');
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
