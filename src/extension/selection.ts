import * as vscode from 'vscode';
import { loadCheckpoint, type LoadedModel } from '../engine/checkpoint';
import { splitCsvLine } from '../engine/data';
import {
  gateSummary,
  unitsByVariance,
  unitValues,
  unitVariance,
} from '../engine/inspect';
import type { FromInspectWorker, SeriesInspection, TextInspection } from '../protocol/inspectWorker';
import { InspectCancelled, InspectClient, type InspectRequest } from './inspectClient';
import type { RunStore, StoredRun } from './runStore';
import { exists } from './workspaceRunFs';

/** A run's model on the host (for its metadata) and the checkpoint bytes the worker is sent. */
interface LoadedRun {
  model: LoadedModel;
  bytes: Uint8Array;
  /** run id @ checkpoint mtime: which model the worker holds. */
  key: string;
}

interface ChosenRun {
  id: string;
  uri: vscode.Uri;
}

/**
 * Run on selection: a trained run's model over the text under the cursor, in the editor.
 * Decorations colour each character (surprisal, a hidden unit, or input influence); a hover shows
 * what the model expected there. The model runs in a worker (inspectClient.ts: a Web Worker in VS
 * Code for the web, worker_threads on desktop), with a cancellable progress notification when it
 * takes more than a moment, so a large model on a long selection never blocks the extension host;
 * selections are still capped (rnnLab.selection.maxChars). Files are read with
 * vscode.workspace.fs only, so it works in VS Code for the web and on untitled documents.
 *
 * Commands return their results when called programmatically (the integration tests use them).
 */

type Mode = 'surprisal' | 'unit' | 'influence' | 'series';

/** What was run over one document, and where (document offsets shift with edits before it). */
interface DocState {
  uri: string;
  runId: string;
  model: LoadedModel;
  loaded: LoadedRun;
  /** Document offset (UTF-16) of the inspected text and its length. */
  start: number;
  length: number;
  /** How many characters before `start` were fed as context (their edits change the predictions too). */
  contextLength: number;
  result: TextInspection | SeriesInspection;
  /** Series: document line number of each inspected line. */
  lines: number[];
  mode: Mode;
  unit?: { layer: number; state: 'h' | 'c'; unit: number; values: number[]; scale: number };
  influence?: { target: number; values: Float64Array; max: number };
}

export interface RunOnSelectionResult {
  runId: string;
  kind: 'text' | 'series';
  /** Document offset and length of the inspected text. */
  start: number;
  length: number;
  /** Text: per character (code point). */
  chars?: { char: string; offset: number; known: boolean; p: number | null; surprisal: number | null; top: { char: string; p: number }[] }[];
  /** The context fed before the text (the document text just before it). */
  context?: string;
  /** Series: per selected line. */
  rows?: { line: number; actual: number[] | null; predicted: number[] | null; error: number[] | null; problem?: string }[];
  milliseconds: number;
}

export interface SelectionApi {
  /** The decorations currently shown on a document: mode and how many characters/rows carry one. */
  decorationsOf(doc: vscode.TextDocument): { mode: Mode; decorated: number; start: number; length: number } | undefined;
  /** The legend shown in the status bar (empty when hidden). */
  legend(): string;
  /** The worker is computing a request. */
  busy(): boolean;
  /** What the progress notification's Cancel does: terminate the worker (the next request starts a new one). */
  cancelWork(): void;
}

// Colour scales. Backgrounds are translucent so the text stays readable on light and dark themes;
// the swatches in the status bar legend use the same hues, opaque.
/** ColorBrewer RdYlGn, reversed: green = expected, red = surprising. */
const surprisalHues = ['#1a9850', '#66bd63', '#a6d96a', '#d9ef8b', '#fee08b', '#fdae61', '#f46d43', '#d73027'];
/** Upper bucket edges of surprisal in nats (-ln p); ln 2 nats = 1 bit. Fixed, so runs compare. */
const surprisalEdges = [0.25, 0.5, 1, 1.5, 2, 3, 4];
/** ColorBrewer RdBu: blue negative, red positive (as in Karpathy et al.'s cell plots); near 0 stays plain. */
const divergingHues = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'];
const influenceAlphas = [0.06, 0.12, 0.2, 0.3, 0.4, 0.52, 0.65, 0.8];
const influenceRgb = '138, 92, 235';
/**
 * Influence falls off roughly exponentially with distance (more so for a vanilla RNN), so it is
 * coloured on a log scale: 8 buckets over this many decades below the largest; smaller is plain.
 */
const influenceDecades = 2;

function influenceBucket(v: number, max: number): number {
  if (!(v > 0 && max > 0)) return -1;
  const f = 1 + Math.log10(v / max) / influenceDecades;
  return f < 0 ? -1 : Math.min(7, Math.floor(f * 8));
}

/** Upper bucket edges of a forecast's |error| / std of the column. */
const seriesEdges = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.5];

function rgba(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function bucketOf(value: number, edges: number[]): number {
  let b = 0;
  while (b < edges.length && value >= edges[b]) b++;
  return b;
}

/** How a character reads in a hover or a quick pick (whitespace made visible). */
function show(ch: string): string {
  if (ch === ' ') return '␣';
  if (ch === '\n') return '⏎';
  if (ch === '\t') return '⇥';
  if (ch === '`') return 'backtick';
  if (ch === '|') return '\\|'; // a table cell would end at a bare pipe
  return ch;
}

export function registerSelectionCommands(context: vscode.ExtensionContext, store: RunStore, reportError: (message: string) => void): SelectionApi {
  const states = new Map<string, DocState>();
  const models = new Map<string, { mtime: number; loaded: LoadedRun }>();
  const client = new InspectClient(context.extensionUri);
  let lastRunId: string | undefined = context.workspaceState.get<string>('rnnLab.selection.lastRun');
  const shown = new Map<string, { mode: Mode; decorated: number }>();

  const surprisalTypes = surprisalHues.map((h) => vscode.window.createTextEditorDecorationType({ backgroundColor: rgba(h, 0.45) }));
  const divergingTypes = divergingHues.map((h, i) => vscode.window.createTextEditorDecorationType({ backgroundColor: rgba(h, i === 3 || i === 4 ? 0.6 : 0.5) }));
  const influenceTypes = influenceAlphas.map((a) => vscode.window.createTextEditorDecorationType({ backgroundColor: `rgba(${influenceRgb}, ${a})` }));
  const cursorType = vscode.window.createTextEditorDecorationType({
    borderStyle: 'solid',
    borderWidth: '1px',
    borderColor: new vscode.ThemeColor('editorCursor.foreground'),
  });
  const unknownType = vscode.window.createTextEditorDecorationType({
    borderStyle: 'dashed',
    borderWidth: '1px',
    borderColor: new vscode.ThemeColor('editorWarning.foreground'),
  });
  const seriesAfterType = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), margin: '0 0 0 2em', fontStyle: 'italic' },
  });
  const allTypes = [...surprisalTypes, ...divergingTypes, ...influenceTypes, cursorType, unknownType, seriesAfterType];

  // The legend: a label, one coloured swatch per bucket (each with its range as tooltip), a tail.
  const legendLabel = vscode.window.createStatusBarItem('rnnLab.selection.legend', vscode.StatusBarAlignment.Right, 1000);
  legendLabel.name = 'RNN Lab legend';
  legendLabel.command = 'rnnLab.clearDecorations';
  const swatches = Array.from({ length: 8 }, (_, i) => {
    const item = vscode.window.createStatusBarItem(`rnnLab.selection.legend.${i}`, vscode.StatusBarAlignment.Right, 999 - i);
    item.name = 'RNN Lab legend';
    item.text = '█';
    return item;
  });
  const legendTail = vscode.window.createStatusBarItem('rnnLab.selection.legend.tail', vscode.StatusBarAlignment.Right, 990);
  legendTail.name = 'RNN Lab legend';
  let legendText = '';

  const setLegend = (title: string, colors: string[], ranges: string[], tail: string): void => {
    legendLabel.text = `$(symbol-color) ${title}`;
    legendLabel.tooltip = `RNN Lab: ${title}. Click to clear the decorations.`;
    legendLabel.show();
    swatches.forEach((s, i) => {
      s.color = colors[i];
      s.tooltip = ranges[i];
      s.show();
    });
    legendTail.text = tail;
    legendTail.show();
    legendText = `${title} ${ranges.join(' | ')} ${tail}`;
  };
  const hideLegend = (): void => {
    legendLabel.hide();
    swatches.forEach((s) => s.hide());
    legendTail.hide();
    legendText = '';
  };

  const rangeOf = (doc: vscode.TextDocument, offset: number, width: number): vscode.Range =>
    new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + width));

  /** The decorations of one document in its current mode, per decoration type. */
  const decorationsFor = (doc: vscode.TextDocument, st: DocState): Map<vscode.TextEditorDecorationType, vscode.DecorationOptions[]> => {
    const out = new Map<vscode.TextEditorDecorationType, vscode.DecorationOptions[]>();
    const add = (type: vscode.TextEditorDecorationType, o: vscode.DecorationOptions): void => {
      const list = out.get(type);
      if (list) list.push(o);
      else out.set(type, [o]);
    };
    if (st.result.kind === 'series') {
      const std = st.model.series!.std;
      for (const row of st.result.rows) {
        const line = doc.lineAt(st.lines[row.line]);
        if (!row.predicted || !row.error) continue;
        const scaled = Math.max(...row.error.map((e, c) => Math.abs(e) / std[c]));
        add(surprisalTypes[bucketOf(scaled, seriesEdges)], { range: line.range });
        const text = row.predicted.map((p, c) => `${fmt(p)} (error ${fmt(row.error![c])})`).join(', ');
        add(seriesAfterType, { range: new vscode.Range(line.range.end, line.range.end), renderOptions: { after: { contentText: `→ predicted ${text}` } } });
      }
      return out;
    }
    const r = st.result;
    r.chars.forEach((ch, i) => {
      const range = rangeOf(doc, st.start + ch.offset, ch.char.length);
      if (!ch.known) return add(unknownType, { range });
      if (st.mode === 'surprisal') {
        if (ch.surprisal !== null) add(surprisalTypes[bucketOf(ch.surprisal, surprisalEdges)], { range });
      } else if (st.mode === 'unit' && st.unit) {
        const x = st.unit.values[i] / st.unit.scale;
        if (Math.abs(x) >= 0.05) add(divergingTypes[x < 0 ? Math.max(0, 3 - Math.floor(-x * 4 - 1e-9)) : 4 + Math.min(3, Math.floor(x * 4 - 1e-9))], { range });
      } else if (st.mode === 'influence' && st.influence) {
        if (i === st.influence.target) add(cursorType, { range });
        const b = influenceBucket(st.influence.values[i], st.influence.max);
        if (b >= 0) add(influenceTypes[b], { range });
      }
    });
    return out;
  };

  const applyTo = (editor: vscode.TextEditor): void => {
    const st = states.get(editor.document.uri.toString());
    const decos = st ? decorationsFor(editor.document, st) : new Map();
    let decorated = 0;
    for (const type of allTypes) {
      const list = decos.get(type) ?? [];
      if (type !== seriesAfterType && type !== cursorType) decorated += list.length;
      editor.setDecorations(type, list);
    }
    if (st) shown.set(st.uri, { mode: st.mode, decorated });
  };

  const refresh = (doc: vscode.TextDocument): void => {
    for (const e of vscode.window.visibleTextEditors) if (e.document === doc) applyTo(e);
    const st = states.get(doc.uri.toString());
    if (!st) {
      shown.delete(doc.uri.toString());
      if (vscode.window.activeTextEditor?.document === doc || states.size === 0) hideLegend();
      return;
    }
    updateLegend(st);
  };

  const updateLegend = (st: DocState): void => {
    if (st.mode === 'surprisal') {
      const r = st.result as TextInspection;
      const known = r.chars.filter((c) => c.surprisal !== null);
      const mean = known.reduce((a, c) => a + c.surprisal!, 0) / Math.max(1, known.length);
      const unknown = r.chars.filter((c) => !c.known).length;
      const edges = ['0', ...surprisalEdges.map(String)];
      setLegend(
        'surprisal -ln p (nats): low',
        surprisalHues,
        surprisalHues.map((_, i) => `${edges[i]}${i < 7 ? `-${surprisalEdges[i]}` : '+'} nats`),
        `high · mean ${mean.toFixed(2)} nats = ${(mean / Math.LN2).toFixed(2)} bits/char${unknown ? ` · ${unknown} unknown` : ''}`,
      );
    } else if (st.mode === 'unit' && st.unit) {
      const u = st.unit;
      setLegend(
        `L${u.layer + 1} ${u.state}[${u.unit}]: ${fmt(-u.scale)}`,
        divergingHues,
        divergingHues.map((_, i) => `${fmt(((i - 4) / 4) * u.scale)} to ${fmt(((i - 3) / 4) * u.scale)}`),
        `${fmt(u.scale)} · variance ${fmt(unitVarianceOf(u.values))}`,
      );
    } else if (st.mode === 'influence' && st.influence) {
      const max = st.influence.max;
      const ch = (st.result as TextInspection).chars[st.influence.target];
      setLegend(
        `influence on '${show(ch.char)}' (log scale): ${(max * 10 ** -influenceDecades).toPrecision(2)}`,
        influenceAlphas.map((a) => `rgba(${influenceRgb}, ${Math.min(1, a + 0.3)})`),
        influenceAlphas.map((_, i) => `${(max * 10 ** (((i - 8) / 8) * influenceDecades)).toPrecision(3)} to ${(max * 10 ** (((i - 7) / 8) * influenceDecades)).toPrecision(3)} (||d log p / d x||)`),
        `${max.toPrecision(3)} = max ||d log p/d x||`,
      );
    } else if (st.mode === 'series') {
      const r = st.result as SeriesInspection;
      const edges = ['0', ...seriesEdges.map(String)];
      setLegend(
        'forecast |error| / std: low',
        surprisalHues,
        surprisalHues.map((_, i) => `${edges[i]}${i < 7 ? `-${seriesEdges[i]}` : '+'} std`),
        `high · RMSE ${r.rmse.map(fmt).join(', ')}`,
      );
    }
  };

  const clear = (doc?: vscode.TextDocument): void => {
    const docs = doc ? [doc] : vscode.workspace.textDocuments.filter((d) => states.has(d.uri.toString()));
    for (const d of docs) {
      states.delete(d.uri.toString());
      refresh(d);
    }
    if (!doc) {
      states.clear();
      hideLegend();
    }
  };

  // --- the run and its model ---

  const runsWithModel = async (): Promise<StoredRun[]> =>
    (await store.list()).filter((r) => r.status !== 'running' && (r.config?.task === 'charlm' || r.config?.task === 'forecast'));

  /**
   * The run passed in (a Runs view item, an id, or { runId }), else the last one used, else a quick
   * pick. A known id goes straight to its folder: listing every run costs a read per run, which in
   * the web host is a round trip each.
   */
  const chooseRun = async (arg: unknown): Promise<ChosenRun | undefined> => {
    const a = arg as { runId?: unknown; id?: unknown } | undefined;
    const given = typeof arg === 'string' ? arg : typeof a?.runId === 'string' ? a.runId : typeof a?.id === 'string' ? a.id : undefined;
    const id = given ?? lastRunId;
    if (id !== undefined && /^[\w.-]+$/.test(id) && !id.startsWith('.')) {
      if (store.isOpen(id)) {
        reportError(`RNN Lab: run ${id} is still training; wait for it to finish (or stop it) and try again.`);
        return undefined;
      }
      const uri = store.runUri(id);
      // A named run loaded before is stat'ed by loadModel anyway (one round trip, not two); the
      // last-used run is checked here, so that a deleted one falls back to the quick pick.
      if ((given !== undefined && models.has(id)) || (await exists(vscode.Uri.joinPath(uri, 'checkpoint.safetensors')))) return { id, uri };
    }
    if (given !== undefined) {
      reportError(`RNN Lab: there is no finished run "${given}" with a model to run on the selection. Pick one from the Runs view.`);
      return undefined;
    }
    const runs = await runsWithModel();
    if (runs.length === 0) {
      reportError('RNN Lab: no trained run to run on the selection yet. Train one first (RNN Lab: Train RNN).');
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: r.config?.name ?? r.id, description: `${r.config?.task} · ${r.config?.cell.toUpperCase()} ${r.config?.layers}x${r.config?.hidden}`, detail: r.id, run: r })),
      { title: 'RNN Lab: run which model on the selection?' },
    );
    return pick && { id: pick.run.id, uri: pick.run.uri };
  };

  const loadModel = async (run: ChosenRun): Promise<LoadedRun | undefined> => {
    const uri = vscode.Uri.joinPath(run.uri, 'checkpoint.safetensors');
    try {
      const stat = await vscode.workspace.fs.stat(uri);
      const cached = models.get(run.id);
      if (cached && cached.mtime === stat.mtime) return cached.loaded;
      const bytes = await vscode.workspace.fs.readFile(uri);
      const loaded = { model: loadCheckpoint(bytes, `${run.id}/checkpoint.safetensors`), bytes, key: `${run.id}@${stat.mtime}` };
      models.set(run.id, { mtime: stat.mtime, loaded });
      return loaded;
    } catch (e) {
      reportError(`RNN Lab: cannot load the model of run ${run.id}: ${e instanceof Error ? e.message : String(e)}${(e as { hint?: string }).hint ? `. ${(e as { hint?: string }).hint}` : ''}`);
      return undefined;
    }
  };

  /**
   * One request to the worker. A progress notification with Cancel appears when it takes longer
   * than a moment; Cancel terminates the worker. Undefined when cancelled or failed (reported).
   */
  const ask = async <T extends FromInspectWorker['type']>(req: InspectRequest, loaded: LoadedRun, expect: T, title: string): Promise<Extract<FromInspectWorker, { type: T }> | undefined> => {
    const work = (async () => {
      let reply = await client.request(req, loaded.key, () => loaded.bytes);
      if (reply.type === 'error' && reply.needModel) {
        client.forgetModel();
        reply = await client.request(req, loaded.key, () => loaded.bytes);
      }
      return reply;
    })();
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `RNN Lab: ${title}`, cancellable: true }, (_, token) => {
        token.onCancellationRequested(() => client.cancel());
        return work.catch(() => undefined);
      });
    }, 400);
    try {
      const reply = await work;
      if (reply.type === 'error') {
        reportError(`RNN Lab: ${title} failed: ${reply.message}`);
        return undefined;
      }
      if (reply.type !== expect) throw new Error(`unexpected reply ${reply.type}`);
      return reply as Extract<FromInspectWorker, { type: T }>;
    } catch (e) {
      if (!(e instanceof InspectCancelled)) reportError(`RNN Lab: ${title} failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  };

  /** The selection, or the current line when nothing is selected. */
  const targetRange = (editor: vscode.TextEditor): vscode.Range =>
    editor.selection.isEmpty ? editor.document.lineAt(editor.selection.active.line).range : new vscode.Range(editor.selection.start, editor.selection.end);

  const withinCap = (length: number, what: string): boolean => {
    const cap = vscode.workspace.getConfiguration('rnnLab').get<number>('selection.maxChars') ?? 5000;
    if (length <= cap) return true;
    reportError(`RNN Lab: the ${what} is ${length.toLocaleString('en-US')} characters, over the cap of ${cap.toLocaleString('en-US')} (setting rnnLab.selection.maxChars). Select less text, or raise the setting.`);
    return false;
  };

  const runOnSelection = async (arg?: unknown): Promise<RunOnSelectionResult | undefined> => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      reportError('RNN Lab: open a text document and select some text to run a model on.');
      return undefined;
    }
    const range = targetRange(editor);
    const doc = editor.document;
    const text = doc.getText(range);
    if (!withinCap(text.length, editor.selection.isEmpty ? 'current line' : 'selection')) return undefined;
    if (text.length === 0) {
      reportError('RNN Lab: the selection (or the current line) is empty. Select the text to run the model on.');
      return undefined;
    }
    const run = await chooseRun(arg);
    if (!run) return undefined;
    const loaded = await loadModel(run);
    if (!loaded) return undefined;
    const model = loaded.model;
    lastRunId = run.id;
    void context.workspaceState.update('rnnLab.selection.lastRun', run.id);
    const version = doc.version;
    const start = doc.offsetAt(range.start);
    let milliseconds: number;
    let st: DocState;
    let contextText: string | undefined;
    if (model.series) {
      const first = range.start.line;
      const last = range.end.character === 0 && range.end.line > first ? range.end.line - 1 : range.end.line;
      const lineNumbers = Array.from({ length: last - first + 1 }, (_, i) => first + i);
      const header = headerOf(doc);
      const reply = await ask({ type: 'inspectSeries', lines: lineNumbers.map((l) => doc.lineAt(l).text), header }, loaded, 'inspected', `running ${run.id} on ${lineNumbers.length} rows`);
      if (!reply || !unchanged(doc, version)) return undefined;
      const result = reply.result as SeriesInspection;
      milliseconds = reply.milliseconds;
      const from = doc.offsetAt(doc.lineAt(first).range.start);
      st = { uri: doc.uri.toString(), runId: run.id, model, loaded, start: from, length: doc.offsetAt(doc.lineAt(last).range.end) - from, contextLength: 0, result, lines: lineNumbers, mode: 'series' };
    } else if (model.vocab) {
      const contextChars = vscode.workspace.getConfiguration('rnnLab').get<number>('selection.contextChars') ?? 200;
      contextText = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, start - contextChars)), range.start));
      const reply = await ask({ type: 'inspectText', text, context: contextText }, loaded, 'inspected', `running ${run.id} on ${text.length.toLocaleString('en-US')} characters`);
      if (!reply || !unchanged(doc, version)) return undefined;
      const result = reply.result as TextInspection;
      milliseconds = reply.milliseconds;
      st = { uri: doc.uri.toString(), runId: run.id, model, loaded, start, length: text.length, contextLength: contextText.length, result, lines: [], mode: 'surprisal' };
    } else {
      reportError(`RNN Lab: run ${run.id} has neither a vocabulary nor series columns.`);
      return undefined;
    }
    states.set(st.uri, st);
    refresh(doc);
    const base: RunOnSelectionResult = { runId: run.id, kind: st.result.kind, start: st.start, length: st.length, milliseconds };
    if (st.result.kind === 'series') return { ...base, rows: st.result.rows.map((r) => ({ ...r, line: st.lines[r.line] })) };
    return {
      ...base,
      context: contextText,
      chars: st.result.chars.map((c) => ({ char: c.char, offset: st.start + c.offset, known: c.known, p: c.p, surprisal: c.surprisal, top: c.top })),
    };
  };

  /** The document's text inspection, running the model first if there is none yet. */
  const textStateFor = async (editor: vscode.TextEditor, arg: unknown): Promise<DocState | undefined> => {
    let st = states.get(editor.document.uri.toString());
    if (!st || st.result.kind !== 'text') {
      const r = await runOnSelection(arg);
      if (!r) return undefined;
      st = states.get(editor.document.uri.toString());
    }
    if (!st || st.result.kind !== 'text') {
      reportError('RNN Lab: this needs a character model; the chosen run forecasts a series.');
      return undefined;
    }
    return st;
  };

  const colorByHiddenUnit = async (arg?: { layer?: number; unit?: number; state?: 'h' | 'c'; runId?: string }) => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void reportError('RNN Lab: open a document and run a model on a selection first.');
    const st = await textStateFor(editor, arg);
    if (!st) return undefined;
    const r = st.result as TextInspection;
    const previous = { mode: st.mode, unit: st.unit };
    const showUnit = (layer: number, state: 'h' | 'c', unit: number): { layer: number; state: 'h' | 'c'; unit: number; values: number[]; variance: number } => {
      const values = unitValues(r, layer, unit, state);
      // tanh h lives in [-1, 1]; c and relu states are unbounded: scale by the largest |value|.
      const bounded = state === 'h' && !(r.cell === 'rnn' && st.model.config.rnnActivation === 'relu');
      const scale = bounded ? 1 : Math.max(1e-12, ...values.map(Math.abs));
      st.unit = { layer, state, unit, values, scale };
      st.mode = 'unit';
      refresh(editor.document);
      return { layer, state, unit, values, variance: unitVariance(r, layer, unit, state) };
    };
    if (arg && typeof arg.unit === 'number') {
      const layer = arg.layer ?? 0;
      const state = arg.state ?? 'h';
      if (!(layer >= 0 && layer < r.layers && arg.unit >= 0 && arg.unit < r.hidden) || (state === 'c' && r.cell !== 'lstm')) {
        reportError(`RNN Lab: no unit ${state}[${arg.unit}] in layer ${layer + 1} (the model has ${r.layers} layer(s) of ${r.hidden} units${r.cell === 'lstm' ? ', h and c' : ''})`);
        return undefined;
      }
      return showUnit(layer, state, arg.unit);
    }
    const units = unitsByVariance(r);
    type UnitItem = vscode.QuickPickItem & { layer: number; state: 'h' | 'c'; unit: number };
    const qp = vscode.window.createQuickPick<UnitItem>();
    qp.title = 'RNN Lab: colour by which unit? (most varying over the selection first)';
    qp.placeholder = 'Move through the list to preview; Enter keeps it, Escape goes back';
    qp.items = units.map((u) => ({ label: `L${u.layer + 1} ${u.state}[${u.unit}]`, description: `variance ${fmt(u.variance)}`, layer: u.layer, state: u.state, unit: u.unit }));
    return new Promise<ReturnType<typeof showUnit> | undefined>((resolve) => {
      let accepted: ReturnType<typeof showUnit> | undefined;
      qp.onDidChangeActive((items) => {
        if (items[0]) showUnit(items[0].layer, items[0].state, items[0].unit);
      });
      qp.onDidAccept(() => {
        const item = qp.selectedItems[0] ?? qp.activeItems[0];
        if (item) accepted = showUnit(item.layer, item.state, item.unit);
        qp.hide();
      });
      qp.onDidHide(() => {
        if (!accepted) {
          st.mode = previous.mode;
          st.unit = previous.unit;
          refresh(editor.document);
        }
        qp.dispose();
        resolve(accepted);
      });
      qp.show();
      // The first item is active from the start: preview it without waiting for a move.
      if (qp.items[0]) showUnit(qp.items[0].layer, qp.items[0].state, qp.items[0].unit);
    });
  };

  const showInfluence = async (arg?: { offset?: number; runId?: string }) => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void reportError('RNN Lab: open a document and put the cursor on a character.');
    const doc = editor.document;
    const cursor = typeof arg?.offset === 'number' ? arg.offset : doc.offsetAt(editor.selection.active);
    const st = await textStateFor(editor, arg);
    if (!st) return undefined;
    const r = st.result as TextInspection;
    // The character under the cursor; at the end of the inspected text, the last one.
    let target = r.chars.findIndex((c) => st.start + c.offset <= cursor && cursor < st.start + c.offset + c.char.length);
    if (target < 0 && cursor === st.start + st.length) target = r.chars.length - 1;
    if (target < 0) {
      reportError('RNN Lab: the cursor is outside the text the model ran on. Put it on a character of the decorated text.');
      return undefined;
    }
    const ch = r.chars[target];
    if (!ch.known) {
      reportError(`RNN Lab: '${show(ch.char)}' is not in the model's vocabulary, so nothing predicted it. Pick another character.`);
      return undefined;
    }
    const version = doc.version;
    const reply = await ask({ type: 'influence', tokens: r.tokens, steps: Int32Array.from(r.chars, (c) => c.step), target }, st.loaded, 'influence', `influence on '${show(ch.char)}' (backpropagating through ${target} characters)`);
    if (!reply || !unchanged(doc, version) || states.get(st.uri) !== st) return undefined;
    const values = reply.values;
    st.influence = { target, values, max: values.reduce((m, v) => Math.max(m, v), 0) };
    st.mode = 'influence';
    refresh(doc);
    return { target, targetOffset: st.start + ch.offset, char: ch.char, influence: Array.from(values) };
  };

  const continueSelection = async (arg?: { length?: number; temperature?: number; topK?: number; seed?: number; runId?: string }) => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void reportError('RNN Lab: open a document and select the text to continue.');
    const cfg = vscode.workspace.getConfiguration('rnnLab');
    const length = arg?.length ?? cfg.get<number>('continue.length') ?? 100;
    const temperature = arg?.temperature ?? cfg.get<number>('continue.temperature') ?? 0.8;
    const topK = arg?.topK ?? cfg.get<number>('continue.topK') ?? 0;
    if (!(Number.isInteger(length) && length >= 1 && length <= 20000) || !(temperature > 0) || !(Number.isInteger(topK) && topK >= 0)) {
      reportError('RNN Lab: Continue Selection needs a length from 1 to 20000, a temperature above 0 and a top-k of 0 (all) or more (settings rnnLab.continue.*).');
      return undefined;
    }
    const range = targetRange(editor);
    const doc = editor.document;
    const prime = doc.getText(range);
    if (!withinCap(prime.length, 'selection')) return undefined;
    const run = await chooseRun(arg?.runId ?? (arg as { id?: string } | undefined)?.id);
    if (!run) return undefined;
    const loaded = await loadModel(run);
    if (!loaded) return undefined;
    if (!loaded.model.vocab) {
      reportError(`RNN Lab: run ${run.id} forecasts a series; Continue Selection needs a character model.`);
      return undefined;
    }
    lastRunId = run.id;
    void context.workspaceState.update('rnnLab.selection.lastRun', run.id);
    const contextChars = cfg.get<number>('selection.contextChars') ?? 200;
    const start = doc.offsetAt(range.start);
    const before = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, start - contextChars)), range.start));
    const version = doc.version;
    const reply = await ask({ type: 'sample', prime: before + prime, length, temperature, topK, seed: arg?.seed ?? Date.now() >>> 0 }, loaded, 'sampled', `generating ${length} characters with ${run.id}`);
    if (!reply || !unchanged(doc, version)) return undefined;
    const inserted = reply.text;
    const at = range.end;
    const ok = await editor.edit((b) => b.insert(at, inserted), { undoStopBefore: true, undoStopAfter: true });
    if (!ok) {
      reportError('RNN Lab: the editor refused the insertion (is it read-only?).');
      return undefined;
    }
    return { runId: run.id, inserted, offset: doc.offsetAt(at) };
  };

  // --- hover ---

  const hover = (doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined => {
    const st = states.get(doc.uri.toString());
    if (!st) return undefined;
    const offset = doc.offsetAt(pos);
    if (offset < st.start || offset > st.start + st.length) return undefined;
    const md = new vscode.MarkdownString();
    md.supportThemeIcons = true;
    if (st.result.kind === 'series') {
      const k = st.lines.indexOf(pos.line);
      const row = k >= 0 ? st.result.rows[k] : undefined;
      if (!row) return undefined;
      md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · one-step-ahead forecast\n\n`);
      if (row.problem) md.appendMarkdown(`row skipped: ${row.problem}\n`);
      else if (!row.predicted) md.appendMarkdown('first readable row: nothing before it to predict from\n');
      else {
        md.appendMarkdown('| column | predicted | actual | error |\n|---|---|---|---|\n');
        st.result.columns.forEach((c, i) => md.appendMarkdown(`| ${c} | ${fmt(row.predicted![i])} | ${fmt(row.actual![i])} | ${fmt(row.error![i])} |\n`));
      }
      return new vscode.Hover(md, doc.lineAt(pos.line).range);
    }
    const r = st.result;
    const i = r.chars.findIndex((c) => st.start + c.offset <= offset && offset < st.start + c.offset + c.char.length);
    if (i < 0) return undefined;
    const ch = r.chars[i];
    const range = rangeOf(doc, st.start + ch.offset, ch.char.length);
    md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · char ${i + 1} of ${r.chars.length}: \`${show(ch.char)}\`\n\n`);
    if (!ch.known) {
      md.appendMarkdown(`\`${show(ch.char)}\` is not in the model's vocabulary: not fed to the network (the state passes through it unchanged).`);
      return new vscode.Hover(md, range);
    }
    if (ch.p === null) md.appendMarkdown('Nothing precedes this character, so nothing predicted it.\n\n');
    else {
      md.appendMarkdown(`p(\`${show(ch.char)}\` | prefix) = ${ch.p.toFixed(4)} · surprisal ${ch.surprisal!.toFixed(3)} nats (${(ch.surprisal! / Math.LN2).toFixed(3)} bits)\n\n`);
      md.appendMarkdown('| expected here | p |\n|---|---|\n');
      for (const t of ch.top) md.appendMarkdown(`| \`${show(t.char)}\`${t.char === ch.char ? ' ✓' : ''} | ${t.p.toFixed(4)} |\n`);
      md.appendMarkdown('\n');
    }
    const gates = gateSummary(r, i);
    if (gates.length) {
      const perLayer = Array.from({ length: r.layers }, (_, l) =>
        `L${l + 1}: ` + gates.filter((g) => g.layer === l).map((g) => `${g.gate} ${g.mean.toFixed(2)}${g.saturated > 0 ? ` (${Math.round(g.saturated * 100)}% sat.)` : ''}`).join(' · '),
      );
      md.appendMarkdown(`gates while reading it, mean over ${r.hidden} units: ${perLayer.join('; ')}\n\n`);
    }
    if (st.mode === 'unit' && st.unit) md.appendMarkdown(`L${st.unit.layer + 1} ${st.unit.state}[${st.unit.unit}] = ${fmt(st.unit.values[i])}\n\n`);
    if (st.mode === 'influence' && st.influence) {
      const t = r.chars[st.influence.target];
      md.appendMarkdown(`influence on \`${show(t.char)}\` (char ${st.influence.target + 1}): ||d log p / d x|| = ${st.influence.values[i].toPrecision(4)}\n`);
    }
    return new vscode.Hover(md, range);
  };

  // --- keeping decorations honest ---

  const onEdit = (e: vscode.TextDocumentChangeEvent): void => {
    const st = states.get(e.document.uri.toString());
    if (!st || e.contentChanges.length === 0) return;
    let shift = 0;
    for (const c of e.contentChanges) {
      const from = c.rangeOffset;
      const to = c.rangeOffset + c.rangeLength;
      if (from >= st.start + st.length && !(st.result.kind === 'series' && from === st.start + st.length)) continue; // after the text
      if (to <= st.start - st.contextLength) {
        shift += c.text.length - c.rangeLength; // before it and its context: the text moves, it does not change
        continue;
      }
      // The text under the decorations (or the context that was fed before it) changed: they no longer describe it.
      clear(e.document);
      return;
    }
    st.start += shift;
  };

  const selector: vscode.DocumentSelector = [{ scheme: '*' }];
  context.subscriptions.push(
    ...allTypes,
    legendLabel,
    ...swatches,
    legendTail,
    client,
    vscode.commands.registerCommand('rnnLab.runOnSelection', (arg?: unknown) => runOnSelection(arg)),
    vscode.commands.registerCommand('rnnLab.colorByHiddenUnit', (arg?: { layer?: number; unit?: number; state?: 'h' | 'c' }) => colorByHiddenUnit(arg)),
    vscode.commands.registerCommand('rnnLab.showInfluence', (arg?: { offset?: number }) => showInfluence(arg)),
    vscode.commands.registerCommand('rnnLab.continueSelection', (arg?: { length?: number; temperature?: number; topK?: number; seed?: number }) => continueSelection(arg)),
    vscode.commands.registerCommand('rnnLab.clearDecorations', () => clear()),
    vscode.languages.registerHoverProvider(selector, { provideHover: (doc, pos) => hover(doc, pos) }),
    vscode.workspace.onDidChangeTextDocument(onEdit),
    vscode.workspace.onDidCloseTextDocument((d) => {
      states.delete(d.uri.toString());
      shown.delete(d.uri.toString());
    }),
    vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => states.has(e.document.uri.toString()) && applyTo(e))),
    vscode.window.onDidChangeActiveTextEditor((e) => {
      const st = e && states.get(e.document.uri.toString());
      if (st) updateLegend(st);
      else hideLegend();
    }),
  );

  return {
    decorationsOf: (doc) => {
      const st = states.get(doc.uri.toString());
      const s = shown.get(doc.uri.toString());
      return st && s ? { ...s, start: st.start, length: st.length } : undefined;
    },
    legend: () => legendText,
    busy: () => client.busy,
    cancelWork: () => client.cancel(),
  };
}

/** False (with a note to the user) if the document changed while the worker ran: its result describes old text. */
function unchanged(doc: vscode.TextDocument, version: number): boolean {
  if (doc.version === version) return true;
  void vscode.window.showInformationMessage('RNN Lab: the text changed while the model ran; run the command again.');
  return false;
}

function headerOf(doc: vscode.TextDocument): string[] | null {
  for (let l = 0; l < doc.lineCount; l++) {
    const text = doc.lineAt(l).text;
    if (text.trim() === '') continue;
    const cells = splitCsvLine(text);
    if (!cells) return null;
    return cells.some((c) => c !== '' && !Number.isFinite(Number(c))) ? cells : null;
  }
  return null;
}

function unitVarianceOf(values: number[]): number {
  const mean = values.reduce((a, v) => a + v, 0) / Math.max(1, values.length);
  return values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : Number(x.toPrecision(4)).toString();
}
