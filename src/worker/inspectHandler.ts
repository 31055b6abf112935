/**
 * The inspect worker's work, shared by its worker_threads and Web Worker entries: load a run's
 * checkpoint (kept until another is sent) and run inspectText / inspectSeries / influence / sample on
 * a language model's, translate (inspectTranslate.ts) on a seq2seq run's.
 * Pure engine code, so the extension host stays responsive while a large model reads a long
 * selection or backpropagates through it.
 */
import type { FromInspectWorker, ToInspectWorker } from '../protocol/inspectWorker';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { compactGates, influenceOnSteps, inspectSeries, inspectText } from '../engine/inspect';
import { Rng } from '../engine/random';
import { sampleText } from '../engine/sample';
import { isSeq2SeqCheckpoint, loadSeq2SeqCheckpoint, type LoadedSeq2Seq } from '../engine/seq2seqCheckpoint';
import { translateLines } from './inspectTranslate';

export class InspectHandler {
  private model: { key: string; loaded: LoadedModel; s2s?: undefined } | { key: string; loaded?: undefined; s2s: LoadedSeq2Seq } | undefined;

  /** The reply to one request, and the buffers to transfer with it. */
  handle(msg: ToInspectWorker): { reply: FromInspectWorker; transfer: ArrayBuffer[] } {
    const started = performance.now();
    try {
      if (msg.checkpoint) {
        this.model = undefined;
        this.model = isSeq2SeqCheckpoint(msg.checkpoint, msg.modelKey)
          ? { key: msg.modelKey, s2s: loadSeq2SeqCheckpoint(msg.checkpoint, msg.modelKey) }
          : { key: msg.modelKey, loaded: loadCheckpoint(msg.checkpoint, msg.modelKey) };
      }
      if (this.model?.key !== msg.modelKey) return { reply: { type: 'error', id: msg.id, message: 'the worker does not hold that model', needModel: true }, transfer: [] };
      if (msg.type === 'translate') {
        if (!this.model.s2s) throw new Error('this run is a language model or a forecaster, not a seq2seq run: it has nothing to translate with');
        const result = translateLines(this.model.s2s, msg.lines, { beam: msg.beam, alpha: msg.alpha });
        return { reply: { type: 'translated', id: msg.id, result, milliseconds: performance.now() - started }, transfer: [] };
      }
      if (!this.model.loaded) throw new Error('this run is a seq2seq run: use RNN Lab: Translate Selection on it');
      const { net, vocab, series } = this.model.loaded;
      if (msg.type === 'influence') {
        const values = influenceOnSteps(net, msg.tokens, msg.steps, msg.target);
        return { reply: { type: 'influence', id: msg.id, values, milliseconds: performance.now() - started }, transfer: [values.buffer as ArrayBuffer] };
      }
      if (msg.type === 'sample') {
        if (!vocab) throw new Error('this run forecasts a series; it has no vocabulary to sample from');
        const text = sampleText(net, vocab, { length: msg.length, temperature: msg.temperature, topK: msg.topK, prime: msg.prime }, new Rng(msg.seed));
        return { reply: { type: 'sampled', id: msg.id, text, milliseconds: performance.now() - started }, transfer: [] };
      }
      if (msg.type === 'inspectText') {
        if (!vocab) throw new Error('this run forecasts a series; it has no vocabulary');
        const result = inspectText(net, vocab, msg.text, { context: msg.context });
        // The host shows gates only in brief (the hover): send the summary, not every activation.
        compactGates(result);
        const transfer = [...result.h, ...result.c, result.gateStats!, result.tokens].map((a) => a.buffer as ArrayBuffer);
        return { reply: { type: 'inspected', id: msg.id, result, milliseconds: performance.now() - started }, transfer };
      }
      if (!series) throw new Error('this run is a character model; it has no series columns');
      const result = inspectSeries(net, series, msg.lines, msg.header);
      return { reply: { type: 'inspected', id: msg.id, result, milliseconds: performance.now() - started }, transfer: [] };
    } catch (e) {
      return { reply: { type: 'error', id: msg.id, message: e instanceof Error ? `${e.message}${(e as { hint?: string }).hint ? `. ${(e as { hint?: string }).hint}` : ''}` : String(e) }, transfer: [] };
    }
  }
}
