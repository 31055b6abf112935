/**
 * Run on selection's decorations and legend: per document, what was run over it (DocState) and
 * the colours that show it; the status bar legend of the active document's colours.
 */
import * as vscode from 'vscode';
import type { SeriesInspection, TextInspection } from '../../protocol/inspectWorker';
import { bucketOf, divergingHues, fmt, influenceAlphas, influenceBucket, influenceDecades, influenceRgb, rgba, seriesEdges, show, surprisalEdges, surprisalHues, unitVarianceOf } from './colourScales';
import type { DocState, Mode } from './state';

const border = (style: string, color: string) => vscode.window.createTextEditorDecorationType({ borderStyle: style, borderWidth: '1px', borderColor: new vscode.ThemeColor(color) });

function legendItem(id: string, priority: number): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Right, priority);
  item.name = 'RNN Lab legend';
  return item;
}

export class SelectionDecorations implements vscode.Disposable {
  /** What was run over each document, by uri. */
  readonly states = new Map<string, DocState>();
  /** Per document: the mode shown and how many characters or rows carry a colour. */
  readonly shown = new Map<string, { mode: Mode; decorated: number }>();

  private readonly surprisalTypes = surprisalHues.map((h) => vscode.window.createTextEditorDecorationType({ backgroundColor: rgba(h, 0.45) }));
  private readonly divergingTypes = divergingHues.map((h, i) => vscode.window.createTextEditorDecorationType({ backgroundColor: rgba(h, i === 3 || i === 4 ? 0.6 : 0.5) }));
  private readonly influenceTypes = influenceAlphas.map((a) => vscode.window.createTextEditorDecorationType({ backgroundColor: `rgba(${influenceRgb}, ${a})` }));
  private readonly cursorType = border('solid', 'editorCursor.foreground');
  private readonly unknownType = border('dashed', 'editorWarning.foreground');
  private readonly seriesAfterType = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), margin: '0 0 0 2em', fontStyle: 'italic' },
  });
  private readonly allTypes = [...this.surprisalTypes, ...this.divergingTypes, ...this.influenceTypes, this.cursorType, this.unknownType, this.seriesAfterType];

  // The legend: a label, one coloured swatch per bucket (each with its range as tooltip), a tail.
  private readonly legendLabel = legendItem('rnnLab.selection.legend', 1000);
  private readonly swatches = Array.from({ length: 8 }, (_, i) => legendItem(`rnnLab.selection.legend.${i}`, 999 - i));
  private readonly legendTail = legendItem('rnnLab.selection.legend.tail', 990);
  /** The legend as text (tests read it; empty when hidden). */
  legend = '';

  constructor() {
    this.legendLabel.command = 'rnnLab.clearDecorations';
    for (const s of this.swatches) s.text = '█';
  }

  private setLegend(title: string, colors: string[], ranges: string[], tail: string): void {
    this.legendLabel.text = `$(symbol-color) ${title}`;
    this.legendLabel.tooltip = `RNN Lab: ${title}. Click to clear the decorations.`;
    this.legendLabel.show();
    this.swatches.forEach((s, i) => {
      s.color = colors[i];
      s.tooltip = ranges[i];
      s.show();
    });
    this.legendTail.text = tail;
    this.legendTail.show();
    this.legend = `${title} ${ranges.join(' | ')} ${tail}`;
  }

  hideLegend(): void {
    this.legendLabel.hide();
    this.swatches.forEach((s) => s.hide());
    this.legendTail.hide();
    this.legend = '';
  }

  private rangeOf(doc: vscode.TextDocument, offset: number, width: number): vscode.Range {
    return new vscode.Range(doc.positionAt(offset), doc.positionAt(offset + width));
  }

  /** The decorations of one document in its current mode, per decoration type. */
  private decorationsFor(doc: vscode.TextDocument, st: DocState): Map<vscode.TextEditorDecorationType, vscode.DecorationOptions[]> {
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
        add(this.surprisalTypes[bucketOf(scaled, seriesEdges)], { range: line.range });
        const text = row.predicted.map((p, c) => `${fmt(p)} (error ${fmt(row.error![c])})`).join(', ');
        add(this.seriesAfterType, { range: new vscode.Range(line.range.end, line.range.end), renderOptions: { after: { contentText: `→ predicted ${text}` } } });
      }
      return out;
    }
    const r = st.result;
    r.chars.forEach((ch, i) => {
      const range = this.rangeOf(doc, st.start + ch.offset, ch.char.length);
      if (!ch.known) return add(this.unknownType, { range });
      if (st.mode === 'surprisal') {
        if (ch.surprisal !== null) add(this.surprisalTypes[bucketOf(ch.surprisal, surprisalEdges)], { range });
      } else if (st.mode === 'unit' && st.unit) {
        const x = st.unit.values[i] / st.unit.scale;
        if (Math.abs(x) >= 0.05) add(this.divergingTypes[x < 0 ? Math.max(0, 3 - Math.floor(-x * 4 - 1e-9)) : 4 + Math.min(3, Math.floor(x * 4 - 1e-9))], { range });
      } else if (st.mode === 'influence' && st.influence) {
        if (i === st.influence.target) add(this.cursorType, { range });
        const b = influenceBucket(st.influence.values[i], st.influence.max);
        if (b >= 0) add(this.influenceTypes[b], { range });
      }
    });
    return out;
  }

  applyTo(editor: vscode.TextEditor): void {
    const st = this.states.get(editor.document.uri.toString());
    const decos = st ? this.decorationsFor(editor.document, st) : new Map();
    let decorated = 0;
    for (const type of this.allTypes) {
      const list = decos.get(type) ?? [];
      if (type !== this.seriesAfterType && type !== this.cursorType) decorated += list.length;
      editor.setDecorations(type, list);
    }
    if (st) this.shown.set(st.uri, { mode: st.mode, decorated });
  }

  refresh(doc: vscode.TextDocument): void {
    for (const e of vscode.window.visibleTextEditors) if (e.document === doc) this.applyTo(e);
    const st = this.states.get(doc.uri.toString());
    if (!st) {
      this.shown.delete(doc.uri.toString());
      if (vscode.window.activeTextEditor?.document === doc || this.states.size === 0) this.hideLegend();
      return;
    }
    this.updateLegend(st);
  }

  updateLegend(st: DocState): void {
    if (st.mode === 'surprisal') {
      const r = st.result as TextInspection;
      const known = r.chars.filter((c) => c.surprisal !== null);
      const mean = known.reduce((a, c) => a + c.surprisal!, 0) / Math.max(1, known.length);
      const unknown = r.chars.filter((c) => !c.known).length;
      const edges = ['0', ...surprisalEdges.map(String)];
      this.setLegend(
        'surprisal -ln p (nats): low',
        surprisalHues,
        surprisalHues.map((_, i) => `${edges[i]}${i < 7 ? `-${surprisalEdges[i]}` : '+'} nats`),
        `high · mean ${mean.toFixed(2)} nats = ${(mean / Math.LN2).toFixed(2)} bits/char${unknown ? ` · ${unknown} unknown` : ''}`,
      );
    } else if (st.mode === 'unit' && st.unit) {
      const u = st.unit;
      this.setLegend(
        `L${u.layer + 1} ${u.state}[${u.unit}]: ${fmt(-u.scale)}`,
        divergingHues,
        divergingHues.map((_, i) => `${fmt(((i - 4) / 4) * u.scale)} to ${fmt(((i - 3) / 4) * u.scale)}`),
        `${fmt(u.scale)} · variance ${fmt(unitVarianceOf(u.values))}`,
      );
    } else if (st.mode === 'influence' && st.influence) {
      const max = st.influence.max;
      const ch = (st.result as TextInspection).chars[st.influence.target];
      this.setLegend(
        `influence on '${show(ch.char)}' (log scale): ${(max * 10 ** -influenceDecades).toPrecision(2)}`,
        influenceAlphas.map((a) => `rgba(${influenceRgb}, ${Math.min(1, a + 0.3)})`),
        influenceAlphas.map((_, i) => `${(max * 10 ** (((i - 8) / 8) * influenceDecades)).toPrecision(3)} to ${(max * 10 ** (((i - 7) / 8) * influenceDecades)).toPrecision(3)} (||d log p / d x||)`),
        `${max.toPrecision(3)} = max ||d log p/d x||`,
      );
    } else if (st.mode === 'series') {
      const r = st.result as SeriesInspection;
      const edges = ['0', ...seriesEdges.map(String)];
      this.setLegend(
        'forecast |error| / std: low',
        surprisalHues,
        surprisalHues.map((_, i) => `${edges[i]}${i < 7 ? `-${seriesEdges[i]}` : '+'} std`),
        `high · RMSE ${r.rmse.map(fmt).join(', ')}`,
      );
    }
  }

  clear(doc?: vscode.TextDocument): void {
    const docs = doc ? [doc] : vscode.workspace.textDocuments.filter((d) => this.states.has(d.uri.toString()));
    for (const d of docs) {
      this.states.delete(d.uri.toString());
      this.refresh(d);
    }
    if (!doc) {
      this.states.clear();
      this.hideLegend();
    }
  }

  dispose(): void {
    [...this.allTypes, this.legendLabel, ...this.swatches, this.legendTail].forEach((d) => d.dispose());
  }
}
