/**
 * A sweep's table: each run's varied values against its final metrics, from its run folder (the
 * report panel's table and `rnn-lab train SWEEP.rnn.json`'s closing table are this one).
 */
import type { MetricsRecord, RunStatus, RunSummary, Seq2SeqEvalRecord, SweepMember, SweepTableRow } from '../protocol/config';
import { readRecordChunks, runFiles, type RunFs } from './runFolder';

/** The row of a run from its records: the last step's loss, the best validation loss and bpc, the last exact match. */
export function sweepRow(runId: string, member: SweepMember, status: RunStatus, summary: RunSummary | undefined, metrics: readonly MetricsRecord[], evals: readonly Seq2SeqEvalRecord[] = []): SweepTableRow {
  const last = metrics.at(-1);
  const row: SweepTableRow = { runId, index: member.index, values: member.values, status, steps: summary?.step ?? last?.step ?? 0 };
  const finalLoss = summary?.loss ?? last?.loss;
  if (finalLoss !== undefined) row.finalLoss = finalLoss;
  for (const m of metrics) {
    if (m.valLoss !== undefined && Number.isFinite(m.valLoss)) row.bestValLoss = Math.min(row.bestValLoss ?? Infinity, m.valLoss);
    if (m.valBpc !== undefined && Number.isFinite(m.valBpc)) row.bestValBpc = Math.min(row.bestValBpc ?? Infinity, m.valBpc);
  }
  const exact = summary?.exactMatch ?? evals.at(-1)?.exactMatch;
  if (exact !== undefined) row.exactMatch = exact;
  if (last) row.seconds = last.elapsedMs / 1000;
  return row;
}

/** The row of a stored run of a sweep, its records read from its folder (every chunk). */
export async function readSweepRow(fs: RunFs, run: { id: string; sweep: SweepMember; status: RunStatus; summary?: RunSummary }): Promise<SweepTableRow> {
  const [metrics, evals] = await Promise.all([readRecordChunks<MetricsRecord>(fs, run.id, runFiles.metrics), readRecordChunks<Seq2SeqEvalRecord>(fs, run.id, runFiles.eval)]);
  return sweepRow(run.id, run.sweep, run.status, run.summary, metrics.flatMap((c) => c.records), evals.flatMap((c) => c.records));
}

/** The table's metric columns: header and how a row's value is shown ('' when it has none). */
export const SWEEP_METRICS: readonly { key: keyof SweepTableRow; header: string; format: (v: number) => string }[] = [
  { key: 'finalLoss', header: 'final loss', format: (v) => v.toFixed(4) },
  { key: 'bestValLoss', header: 'best val loss', format: (v) => v.toFixed(4) },
  { key: 'bestValBpc', header: 'best val bpc', format: (v) => v.toFixed(3) },
  { key: 'exactMatch', header: 'exact match', format: (v) => `${(100 * v).toFixed(1)}%` },
  { key: 'steps', header: 'steps', format: (v) => String(v) },
  { key: 'seconds', header: 'time (s)', format: (v) => v.toFixed(1) },
];

/** The table as aligned text: a column per varied field, then the metrics any row has, then the status. */
export function sweepTableText(keys: readonly string[], rows: readonly SweepTableRow[]): string {
  const metrics = SWEEP_METRICS.filter((m) => rows.some((r) => r[m.key] !== undefined));
  const header = [...keys, ...metrics.map((m) => m.header), 'status'];
  const body = rows.map((r) => [...keys.map((k) => String(r.values[k] ?? '')), ...metrics.map((m) => (r[m.key] === undefined ? '' : m.format(r[m.key] as number))), r.status]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < keys.length ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
