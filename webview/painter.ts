import { formatNumber, logTicks, niceTicks } from './decimate';

/**
 * The few drawing calls our own charts make, with two back ends: a canvas (what the user sees)
 * and an SVG string (the export). The same chart code drives both, so the SVG is the picture.
 */
export interface Painter {
  polyline(points: number[], color: string, width: number, dash?: number[]): void;
  circle(x: number, y: number, r: number, color: string): void;
  text(s: string, x: number, y: number, color: string, align?: 'left' | 'center' | 'right', baseline?: 'top' | 'middle' | 'bottom'): void;
  /** `cls`: a class for the SVG element (the heatmap's cells are class "cell"); the canvas ignores it. */
  rect(x: number, y: number, w: number, h: number, stroke?: string, fill?: string, cls?: string): void;
}

export class CanvasPainter implements Painter {
  constructor(
    private readonly ctx: CanvasRenderingContext2D,
    font: string,
  ) {
    ctx.font = font;
  }

  polyline(p: number[], color: string, width: number, dash: number[] = []): void {
    if (p.length < 4) return;
    const c = this.ctx;
    c.beginPath();
    c.strokeStyle = color;
    c.lineWidth = width;
    c.setLineDash(dash);
    c.moveTo(p[0], p[1]);
    for (let i = 2; i < p.length; i += 2) c.lineTo(p[i], p[i + 1]);
    c.stroke();
    c.setLineDash([]);
  }

  circle(x: number, y: number, r: number, color: string): void {
    const c = this.ctx;
    c.beginPath();
    c.fillStyle = color;
    c.arc(x, y, r, 0, 2 * Math.PI);
    c.fill();
  }

  text(s: string, x: number, y: number, color: string, align: CanvasTextAlign = 'left', baseline: 'top' | 'middle' | 'bottom' = 'middle'): void {
    const c = this.ctx;
    c.fillStyle = color;
    c.textAlign = align;
    c.textBaseline = baseline;
    c.fillText(s, x, y);
  }

  rect(x: number, y: number, w: number, h: number, stroke?: string, fill?: string): void {
    const c = this.ctx;
    if (fill) {
      c.fillStyle = fill;
      c.fillRect(x, y, w, h);
    }
    if (stroke) {
      c.strokeStyle = stroke;
      c.lineWidth = 1;
      c.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    }
  }
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const r2 = (v: number): string => (Math.round(v * 100) / 100).toString();

export class SvgPainter implements Painter {
  private readonly parts: string[] = [];

  polyline(p: number[], color: string, width: number, dash?: number[]): void {
    if (p.length < 4) return;
    const pts: string[] = [];
    for (let i = 0; i < p.length; i += 2) pts.push(`${r2(p[i])},${r2(p[i + 1])}`);
    const d = dash?.length ? ` stroke-dasharray="${dash.join(' ')}"` : '';
    this.parts.push(`<polyline fill="none" stroke="${esc(color)}" stroke-width="${width}"${d} points="${pts.join(' ')}"/>`);
  }

  circle(x: number, y: number, r: number, color: string): void {
    this.parts.push(`<circle cx="${r2(x)}" cy="${r2(y)}" r="${r}" fill="${esc(color)}"/>`);
  }

  text(s: string, x: number, y: number, color: string, align: 'left' | 'center' | 'right' = 'left', baseline: 'top' | 'middle' | 'bottom' = 'middle'): void {
    const anchor = align === 'left' ? 'start' : align === 'right' ? 'end' : 'middle';
    const dom = baseline === 'top' ? 'hanging' : baseline === 'bottom' ? 'text-after-edge' : 'central';
    this.parts.push(`<text x="${r2(x)}" y="${r2(y)}" fill="${esc(color)}" text-anchor="${anchor}" dominant-baseline="${dom}">${esc(s)}</text>`);
  }

  rect(x: number, y: number, w: number, h: number, stroke?: string, fill?: string, cls?: string): void {
    this.parts.push(`<rect${cls ? ` class="${esc(cls)}"` : ''} x="${r2(x)}" y="${r2(y)}" width="${r2(w)}" height="${r2(h)}" fill="${fill ? esc(fill) : 'none'}"${stroke ? ` stroke="${esc(stroke)}"` : ''}/>`);
  }

  toString(width: number, height: number, background: string, font: string): string {
    const [size, ...family] = font.split(' ');
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="${esc(size)}" font-family="${esc(family.join(' '))}">` +
      `<rect width="100%" height="100%" fill="${esc(background)}"/>` +
      this.parts.join('') +
      '</svg>\n'
    );
  }
}

/** A rectangular plot area with a linear or log axis each way, mapping data to pixels. */
export class Frame {
  constructor(
    readonly left: number,
    readonly top: number,
    readonly width: number,
    readonly height: number,
    readonly x: [number, number],
    readonly y: [number, number],
    readonly logY = false,
    readonly logX = false,
  ) {}

  private static t(v: number, [a, b]: [number, number], log: boolean): number {
    if (log) return (Math.log10(Math.max(v, 1e-300)) - Math.log10(a)) / (Math.log10(b) - Math.log10(a) || 1);
    return (v - a) / (b - a || 1);
  }

  px(v: number): number {
    return this.left + Frame.t(v, this.x, this.logX) * this.width;
  }

  py(v: number): number {
    return this.top + (1 - Frame.t(v, this.y, this.logY)) * this.height;
  }

  inside(px: number, py: number): boolean {
    return px >= this.left - 1 && px <= this.left + this.width + 1 && py >= this.top - 1 && py <= this.top + this.height + 1;
  }

  /** Box, ticks and tick labels; axis titles when given. */
  drawAxes(p: Painter, fg: string, grid: string, xTitle?: string, yTitle?: string, xTicksWanted = 5): void {
    const [x0, x1] = this.x;
    const [y0, y1] = this.y;
    const xt = this.logX ? logTicks(x0, x1) : niceTicks(x0, x1, xTicksWanted);
    const yt = this.logY ? logTicks(y0, y1) : niceTicks(y0, y1, Math.max(2, Math.round(this.height / 35)));
    for (const t of yt) {
      if (t < Math.min(y0, y1) || t > Math.max(y0, y1)) continue;
      const y = this.py(t);
      p.polyline([this.left, y, this.left + this.width, y], grid, 1);
      p.text(this.logY ? `1e${Math.round(Math.log10(t))}` : formatNumber(t), this.left - 4, y, fg, 'right', 'middle');
    }
    for (const t of xt) {
      if (t < x0 || t > x1) continue;
      const x = this.px(t);
      p.polyline([x, this.top, x, this.top + this.height], grid, 1);
      p.text(formatNumber(t), x, this.top + this.height + 3, fg, 'center', 'top');
    }
    p.rect(this.left, this.top, this.width, this.height, grid);
    if (xTitle) p.text(xTitle, this.left + this.width, this.top + this.height + 16, fg, 'right', 'top');
    if (yTitle) p.text(yTitle, this.left + 2, this.top - 8, fg, 'left', 'middle');
  }
}

/** [min, max] of finite positive (log) or finite values, padded; a fallback when there is none. */
export function extent(values: Iterable<number>, log: boolean, pad = 0.05): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return log ? [1e-3, 1] : [0, 1];
  if (log) {
    const a = Math.pow(10, Math.floor(Math.log10(lo)));
    const b = Math.pow(10, Math.ceil(Math.log10(hi)));
    return [a, b > a ? b : a * 10];
  }
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}
