/**
 * The network a run config describes over a dataset. Its own module so that loading a checkpoint
 * (checkpoint.ts, the inspect worker, sampling) builds the model without importing the Trainer,
 * the optimizer or ml-matrix.
 */
import type { RunConfig } from '../protocol/config';
import type { Dataset } from './data';
import type { ModelSpec } from './network';

/** The recurrent stack's fields, which every model kind takes from its config the same way (Network's stack, seq2seq's encoder and decoder). */
export type StackSpec = Pick<RunConfig, 'cell' | 'gruVariant' | 'rnnActivation' | 'layers' | 'hidden'>;

export function cellSpecOf(config: StackSpec): StackSpec {
  return {
    cell: config.cell,
    gruVariant: config.gruVariant,
    rnnActivation: config.rnnActivation,
    layers: config.layers,
    hidden: config.hidden,
  };
}

export function modelSpecFor(config: RunConfig, dataset: Dataset): ModelSpec {
  const text = dataset.kind === 'text';
  return {
    ...cellSpecOf(config),
    input: text
      ? config.embedding > 0
        ? { kind: 'embedding', vocab: dataset.vocab.length, dim: config.embedding }
        : { kind: 'onehot', vocab: dataset.vocab.length }
      : { kind: 'dense', size: dataset.channels },
    head: text ? { kind: 'softmax', classes: dataset.vocab.length } : { kind: 'linear', outputs: dataset.channels },
    dropout: config.dropout,
  };
}
