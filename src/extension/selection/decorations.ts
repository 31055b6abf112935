/**
 * Run on selection's decorations and legend: per document, what was run over it (DocState) and
 * the colours that show it; the status bar legend of the active document's colours.
 */
import * as vscode from 'vscode';
import type { SeriesInspection, TextInspection } from '../../protocol/inspectWorker';
import { bucketOf, divergingHues, fmt, influenceAlphas, influenceBucket, influenceDecades, influenceRgb, rgba, seriesEdges, show, surprisalEdges, surprisalHues, unitVarianceOf } from './colourScales';
import type { DocState, Mode } from './state';

export interface SelectionDecorations extends vscode.Disposable {
  /** What was run over each document, by uri. */
  readonly states: Map<string, DocState>;
  /** Per document: the mode shown and how many characters or rows carry a colour. */
  readonly shown: Map<string, { mode: Mode; decorated: number }>;
  /** Draws a document's decorations (in every visible editor of it) and the legend. */
  refresh(doc: vscode.TextDocument): void;
  applyTo(editor: vscode.TextEditor): void;
  updateLegend(st: DocState): void;
  hideLegend(): void;
  /** Clears one document's decorations, or every document's. */
  clear(doc?: vscode.TextDocument): void;
  legendText(): string;
}

export function selectionDecorations(): SelectionDecorations {
  const states = new Map<string, DocState>();
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

  return {
    states,
    shown,
    refresh,
    applyTo,
    updateLegend,
    hideLegend,
    clear,
    legendText: () => legendText,
    dispose: () => [...allTypes, legendLabel, ...swatches, legendTail].forEach((d) => d.dispose()),
  };
}
