/**
 * Run on selection's commands: Run Model on Selection, Colour by Hidden Unit, Show Influence,
 * Continue Selection, Clear Decorations; and the registration of the hover and the editor
 * listeners. The commands return their results when called programmatically (the integration
 * tests use them). See state.ts for the parts.
 */
import * as vscode from 'vscode';
import { splitCsvLine } from '../../engine/data';
import { unitsByVariance, unitValues, unitVariance } from '../../engine/inspect';
import type { SeriesInspection, TextInspection } from '../../protocol/inspectWorker';
import type { Feedback } from '../feedback';
import { InspectClient } from '../inspectClient';
import type { RunPicker } from '../runPicker';
import type { RunStore } from '../runStore';
import { readSettings } from '../settings';
import { fmt, show } from './colourScales';
import { SelectionDecorations } from './decorations';
import { trackEdits } from './editTracking';
import { selectionHover } from './hover';
import { SelectionModels } from './models';
import type { DocState, RunOnSelectionResult, SelectionApi } from './state';
import { asker, unchanged, type Ask } from './workerTalk';

/** The four commands over one document's state; the methods are the commands' handlers. */
class SelectionCommands {
  constructor(
    readonly decorations: SelectionDecorations,
    private readonly models: SelectionModels,
    private readonly ask: Ask,
    private readonly reportError: (message: string) => void,
  ) {}

  /** The selection, or the current line when nothing is selected. */
  private targetRange(editor: vscode.TextEditor): vscode.Range {
    return editor.selection.isEmpty ? editor.document.lineAt(editor.selection.active.line).range : new vscode.Range(editor.selection.start, editor.selection.end);
  }

  private withinCap(length: number, what: string): boolean {
    const cap = readSettings().selection.maxChars;
    if (length <= cap) return true;
    this.reportError(`RNN Lab: the ${what} is ${length.toLocaleString('en-US')} characters, over the cap of ${cap.toLocaleString('en-US')} (setting rnnLab.selection.maxChars). Select less text, or raise the setting.`);
    return false;
  }

  async runOnSelection(arg?: unknown): Promise<RunOnSelectionResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      this.reportError('RNN Lab: open a text document and select some text to run a model on.');
      return undefined;
    }
    const range = this.targetRange(editor);
    const doc = editor.document;
    const text = doc.getText(range);
    if (!this.withinCap(text.length, editor.selection.isEmpty ? 'current line' : 'selection')) return undefined;
    if (text.length === 0) {
      this.reportError('RNN Lab: the selection (or the current line) is empty. Select the text to run the model on.');
      return undefined;
    }
    const run = await this.models.chooseRun(arg);
    if (!run) return undefined;
    const loaded = await this.models.load(run);
    if (!loaded) return undefined;
    const model = loaded.model;
    this.models.used(run.id);
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
      const reply = await this.ask({ type: 'inspectSeries', lines: lineNumbers.map((l) => doc.lineAt(l).text), header }, loaded, 'inspected', `running ${run.id} on ${lineNumbers.length} rows`);
      if (!reply || !unchanged(doc, version)) return undefined;
      const result = reply.result as SeriesInspection;
      milliseconds = reply.milliseconds;
      const from = doc.offsetAt(doc.lineAt(first).range.start);
      st = { uri: doc.uri.toString(), runId: run.id, model, loaded, start: from, length: doc.offsetAt(doc.lineAt(last).range.end) - from, contextLength: 0, result, lines: lineNumbers, mode: 'series' };
    } else if (model.vocab) {
      const contextChars = readSettings().selection.contextChars;
      contextText = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, start - contextChars)), range.start));
      const reply = await this.ask({ type: 'inspectText', text, context: contextText }, loaded, 'inspected', `running ${run.id} on ${text.length.toLocaleString('en-US')} characters`);
      if (!reply || !unchanged(doc, version)) return undefined;
      const result = reply.result as TextInspection;
      milliseconds = reply.milliseconds;
      st = { uri: doc.uri.toString(), runId: run.id, model, loaded, start, length: text.length, contextLength: contextText.length, result, lines: [], mode: 'surprisal' };
    } else {
      this.reportError(`RNN Lab: run ${run.id} has neither a vocabulary nor series columns.`);
      return undefined;
    }
    this.decorations.states.set(st.uri, st);
    this.decorations.refresh(doc);
    const base: RunOnSelectionResult = { runId: run.id, kind: st.result.kind, start: st.start, length: st.length, milliseconds };
    if (st.result.kind === 'series') return { ...base, rows: st.result.rows.map((r) => ({ ...r, line: st.lines[r.line] })) };
    return {
      ...base,
      context: contextText,
      chars: st.result.chars.map((c) => ({ char: c.char, offset: st.start + c.offset, known: c.known, p: c.p, surprisal: c.surprisal, top: c.top })),
    };
  }

  /** The document's text inspection, running the model first if there is none yet. */
  private async textStateFor(editor: vscode.TextEditor, arg: unknown): Promise<DocState | undefined> {
    let st = this.decorations.states.get(editor.document.uri.toString());
    if (!st || st.result.kind !== 'text') {
      const r = await this.runOnSelection(arg);
      if (!r) return undefined;
      st = this.decorations.states.get(editor.document.uri.toString());
    }
    if (!st || st.result.kind !== 'text') {
      this.reportError('RNN Lab: this needs a character model; the chosen run forecasts a series.');
      return undefined;
    }
    return st;
  }

  async colorByHiddenUnit(arg?: { layer?: number; unit?: number; state?: 'h' | 'c'; runId?: string }) {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void this.reportError('RNN Lab: open a document and run a model on a selection first.');
    const st = await this.textStateFor(editor, arg);
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
      this.decorations.refresh(editor.document);
      return { layer, state, unit, values, variance: unitVariance(r, layer, unit, state) };
    };
    if (arg && typeof arg.unit === 'number') {
      const layer = arg.layer ?? 0;
      const state = arg.state ?? 'h';
      if (!(layer >= 0 && layer < r.layers && arg.unit >= 0 && arg.unit < r.hidden) || (state === 'c' && r.cell !== 'lstm')) {
        this.reportError(`RNN Lab: no unit ${state}[${arg.unit}] in layer ${layer + 1} (the model has ${r.layers} layer(s) of ${r.hidden} units${r.cell === 'lstm' ? ', h and c' : ''})`);
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
          this.decorations.refresh(editor.document);
        }
        qp.dispose();
        resolve(accepted);
      });
      qp.show();
      // The first item is active from the start: preview it without waiting for a move.
      if (qp.items[0]) showUnit(qp.items[0].layer, qp.items[0].state, qp.items[0].unit);
    });
  }

  async showInfluence(arg?: { offset?: number; runId?: string }) {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void this.reportError('RNN Lab: open a document and put the cursor on a character.');
    const doc = editor.document;
    const cursor = typeof arg?.offset === 'number' ? arg.offset : doc.offsetAt(editor.selection.active);
    const st = await this.textStateFor(editor, arg);
    if (!st) return undefined;
    const r = st.result as TextInspection;
    // The character under the cursor; at the end of the inspected text, the last one.
    let target = r.chars.findIndex((c) => st.start + c.offset <= cursor && cursor < st.start + c.offset + c.char.length);
    if (target < 0 && cursor === st.start + st.length) target = r.chars.length - 1;
    if (target < 0) {
      this.reportError('RNN Lab: the cursor is outside the text the model ran on. Put it on a character of the decorated text.');
      return undefined;
    }
    const ch = r.chars[target];
    if (!ch.known) {
      this.reportError(`RNN Lab: '${show(ch.char)}' is not in the model's vocabulary, so nothing predicted it. Pick another character.`);
      return undefined;
    }
    const version = doc.version;
    const reply = await this.ask({ type: 'influence', tokens: r.tokens, steps: Int32Array.from(r.chars, (c) => c.step), target }, st.loaded, 'influence', `influence on '${show(ch.char)}' (backpropagating through ${target} characters)`);
    if (!reply || !unchanged(doc, version) || this.decorations.states.get(st.uri) !== st) return undefined;
    const values = reply.values;
    st.influence = { target, values, max: values.reduce((m, v) => Math.max(m, v), 0) };
    st.mode = 'influence';
    this.decorations.refresh(doc);
    return { target, targetOffset: st.start + ch.offset, char: ch.char, influence: Array.from(values) };
  }

  async continueSelection(arg?: { length?: number; temperature?: number; topK?: number; seed?: number; runId?: string }) {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return void this.reportError('RNN Lab: open a document and select the text to continue.');
    const settings = readSettings();
    const length = arg?.length ?? settings.continuation.length;
    const temperature = arg?.temperature ?? settings.continuation.temperature;
    const topK = arg?.topK ?? settings.continuation.topK;
    if (!(Number.isInteger(length) && length >= 1 && length <= 20000) || !(temperature > 0) || !(Number.isInteger(topK) && topK >= 0)) {
      this.reportError('RNN Lab: Continue Selection needs a length from 1 to 20000, a temperature above 0 and a top-k of 0 (all) or more (settings rnnLab.continue.*).');
      return undefined;
    }
    const range = this.targetRange(editor);
    const doc = editor.document;
    const prime = doc.getText(range);
    if (!this.withinCap(prime.length, 'selection')) return undefined;
    const run = await this.models.chooseRun(arg);
    if (!run) return undefined;
    const loaded = await this.models.load(run);
    if (!loaded) return undefined;
    if (!loaded.model.vocab) {
      this.reportError(`RNN Lab: run ${run.id} forecasts a series; Continue Selection needs a character model.`);
      return undefined;
    }
    this.models.used(run.id);
    const contextChars = settings.selection.contextChars;
    const start = doc.offsetAt(range.start);
    const before = doc.getText(new vscode.Range(doc.positionAt(Math.max(0, start - contextChars)), range.start));
    const version = doc.version;
    const reply = await this.ask({ type: 'sample', prime: before + prime, length, temperature, topK, seed: arg?.seed ?? Date.now() >>> 0 }, loaded, 'sampled', `generating ${length} characters with ${run.id}`);
    if (!reply || !unchanged(doc, version)) return undefined;
    const inserted = reply.text;
    const at = range.end;
    const ok = await editor.edit((b) => b.insert(at, inserted), { undoStopBefore: true, undoStopAfter: true });
    if (!ok) {
      this.reportError('RNN Lab: the editor refused the insertion (is it read-only?).');
      return undefined;
    }
    return { runId: run.id, inserted, offset: doc.offsetAt(at) };
  }
}

export function registerSelectionCommands(context: vscode.ExtensionContext, store: RunStore, picker: RunPicker, feedback: Feedback): SelectionApi {
  const reportError = (message: string): void => void feedback.error(message);
  const client = new InspectClient(context.extensionUri);
  const decorations = new SelectionDecorations();
  const models = new SelectionModels(context, store, picker, reportError);
  const ask = asker(client, reportError);
  const commands = new SelectionCommands(decorations, models, ask, reportError);

  const selector: vscode.DocumentSelector = [{ scheme: '*' }];
  context.subscriptions.push(
    decorations,
    client,
    vscode.commands.registerCommand('rnnLab.runOnSelection', (arg?: unknown) => commands.runOnSelection(arg)),
    vscode.commands.registerCommand('rnnLab.colorByHiddenUnit', (arg?: { layer?: number; unit?: number; state?: 'h' | 'c' }) => commands.colorByHiddenUnit(arg)),
    vscode.commands.registerCommand('rnnLab.showInfluence', (arg?: { offset?: number }) => commands.showInfluence(arg)),
    vscode.commands.registerCommand('rnnLab.continueSelection', (arg?: { length?: number; temperature?: number; topK?: number; seed?: number }) => commands.continueSelection(arg)),
    vscode.commands.registerCommand('rnnLab.clearDecorations', () => decorations.clear()),
    vscode.languages.registerHoverProvider(selector, selectionHover(decorations.states)),
    vscode.workspace.onDidChangeTextDocument(trackEdits(decorations)),
    vscode.workspace.onDidCloseTextDocument((d) => {
      decorations.states.delete(d.uri.toString());
      decorations.shown.delete(d.uri.toString());
    }),
    vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => decorations.states.has(e.document.uri.toString()) && decorations.applyTo(e))),
    vscode.window.onDidChangeActiveTextEditor((e) => {
      const st = e && decorations.states.get(e.document.uri.toString());
      if (st) decorations.updateLegend(st);
      else decorations.hideLegend();
    }),
  );

  return {
    decorationsOf: (doc) => {
      const st = decorations.states.get(doc.uri.toString());
      const s = decorations.shown.get(doc.uri.toString());
      return st && s ? { ...s, start: st.start, length: st.length } : undefined;
    },
    legend: () => decorations.legend,
    busy: () => client.busy,
    cancelWork: () => client.cancel(),
    ask,
  };
}


/** A CSV document's header row, or null when its first non-empty line is data. */
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

