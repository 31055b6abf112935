/**
 * Chart colours come only from the --vscode-* CSS variables VS Code sets on the webview's <html>,
 * re-read when the theme changes (VS Code swaps the body class vscode-light / vscode-dark /
 * vscode-high-contrast and rewrites the variables).
 */
export interface Theme {
  kind: 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  font: string;
  /** Series colours, in order: one per series / run / layer. */
  palette: string[];
  /** The threshold / reference line colour. */
  reference: string;
  contrastBorder: string;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallbackVar?: string): string {
  const v = style.getPropertyValue(name).trim();
  if (v || !fallbackVar) return v;
  return style.getPropertyValue(fallbackVar).trim();
}

export function readTheme(): Theme {
  const style = getComputedStyle(document.documentElement);
  const body = document.body.classList;
  const kind = body.contains('vscode-high-contrast-light')
    ? 'high-contrast-light'
    : body.contains('vscode-high-contrast')
      ? 'high-contrast'
      : body.contains('vscode-light')
        ? 'light'
        : 'dark';
  const foreground = cssVar(style, '--vscode-foreground', '--vscode-editor-foreground');
  const palette = ['blue', 'red', 'green', 'yellow', 'purple', 'orange']
    .map((c) => cssVar(style, `--vscode-charts-${c}`))
    .filter((c) => c);
  return {
    kind,
    foreground,
    muted: cssVar(style, '--vscode-descriptionForeground', '--vscode-foreground'),
    grid: cssVar(style, '--vscode-charts-lines', '--vscode-widget-border') || cssVar(style, '--vscode-panel-border'),
    background: cssVar(style, '--vscode-sideBar-background', '--vscode-editor-background'),
    font: `${cssVar(style, '--vscode-font-size') || '12px'} ${cssVar(style, '--vscode-font-family') || 'sans-serif'}`,
    palette: palette.length ? palette : [foreground],
    reference: cssVar(style, '--vscode-charts-orange', '--vscode-editorWarning-foreground') || foreground,
    contrastBorder: cssVar(style, '--vscode-contrastBorder'),
  };
}

/** Calls `onChange` after VS Code switches theme (body class change). Returns a disposer. */
export function watchTheme(onChange: (t: Theme) => void): () => void {
  const observer = new MutationObserver(() => onChange(readTheme()));
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return () => observer.disconnect();
}

/** `color` with alpha (0..1), for the faint raw line under a smoothed one and for "earlier" curves. */
export function withAlpha(color: string, alpha: number): string {
  const hex = /^#([0-9a-f]{3,8})$/i.exec(color.trim());
  if (hex) {
    let h = hex[1];
    if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join('');
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    const a0 = h.length === 8 ? parseInt(h.slice(6, 8), 16) / 255 : 1;
    return `rgba(${r}, ${g}, ${b}, ${(a0 * alpha).toFixed(3)})`;
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(color.trim());
  if (rgb) {
    const parts = rgb[1].split(',').map((p) => p.trim());
    const a0 = parts[3] !== undefined ? Number(parts[3]) : 1;
    return `rgba(${parts[0]}, ${parts[1]}, ${parts[2]}, ${(a0 * alpha).toFixed(3)})`;
  }
  return color;
}
