/**
 * Keeps run on selection's decorations honest while the document is edited: an edit before the
 * inspected text (and the context fed before it) moves them; an edit inside either clears them,
 * since they no longer describe the text.
 */
import type * as vscode from 'vscode';
import type { SelectionDecorations } from './decorations';

export function trackEdits(decorations: SelectionDecorations): (e: vscode.TextDocumentChangeEvent) => void {
  return (e) => {
    const st = decorations.states.get(e.document.uri.toString());
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
      decorations.clear(e.document);
      return;
    }
    st.start += shift;
  };
}
