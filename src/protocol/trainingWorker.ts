/**
 * Messages between the extension (or the CLI) and a training worker (src/worker/training*.ts),
 * keyed by `type` and tagged with the run id.
 */
import type { DiagnosticsRecord, EnginePath, MetricsRecord, RunConfig, RunSummary, Seq2SeqEvalRecord, WorkerTransport } from './config';

/** A saved run to continue: its checkpoint and resume.safetensors bytes; `where` names them in errors. */
export interface ResumeFrom {
  checkpoint: Uint8Array;
  state: Uint8Array;
  where: string;
}

export type ToWorker =
  /**
   * `resume`: continue a saved run from its checkpoint and resume.safetensors (exact: same losses
   * as an uninterrupted run). `keepResumable`: send that state with every checkpoint.
   */
  | {
      type: 'start';
      runId: string;
      config: RunConfig;
      dataText: string;
      resume?: ResumeFrom;
      keepResumable?: boolean;
      /**
       * VS Code for the web: one end of a MessageChannel per gradient worker the extension host
       * started for this run (the other end is the gradient worker's), in worker order; the run's
       * batch is split over them by message transfer. `gradientWorkersNote`: why there are none
       * although the config asks for more than one worker.
       */
      gradientPorts?: MessagePort[];
      gradientWorkersNote?: string;
    }
  | { type: 'stop'; runId: string }
  /** Gradient worker `index` (from 0) of the run died (`message`: what its host saw); the run's step in progress, or next, fails. */
  | { type: 'gradientWorkerEnded'; runId: string; index: number; message: string };

/** Messages from a training worker. */
export type FromWorker =
  | { type: 'started'; runId: string; vocab?: string[]; paramCount: number; path?: EnginePath; workers?: number; transport?: WorkerTransport; workersNote?: string }
  | { type: 'metrics'; runId: string; record: MetricsRecord }
  | { type: 'diagnostics'; runId: string; record: DiagnosticsRecord }
  | { type: 'seq2seqEval'; runId: string; record: Seq2SeqEvalRecord }
  /** `resumeState`: resume.safetensors for the same step, when the run was started with keepResumable. */
  | { type: 'checkpoint'; runId: string; step: number; bytes: Uint8Array; resumeState?: Uint8Array }
  | { type: 'log'; runId: string; message: string }
  | { type: 'done'; runId: string; summary: RunSummary };
