/**
 * The sweep table of a report: one row per run of the sweep, a column per varied field, then the
 * final metrics the extension computed (SweepTableRow). Clicking a header sorts by it (again:
 * the other way); missing values sort last either way. The best value of each metric column is
 * marked (lowest loss, bpc and time, highest exact match). It draws what it is sent; it computes
 * nothing but the order.
 */
import type { SweepTableRow } from '../src/protocol/config';
import type { ToPanel } from '../src/protocol/panel';

type Table = Extract<ToPanel, { type: 'sweepTable' }>;

interface Column {
  id: string;
  header: string;
  value: (r: SweepTableRow) => string | number | undefined;
  format: (v: string | number) => string;
  /** For metrics: which end is best. */
  best?: 'low' | 'high';
}

const METRICS: Column[] = [
  { id: 'finalLoss', header: 'final loss', value: (r) => r.finalLoss, format: (v) => (v as number).toFixed(4), best: 'low' },
  { id: 'bestValLoss', header: 'best val loss', value: (r) => r.bestValLoss, format: (v) => (v as number).toFixed(4), best: 'low' },
  { id: 'bestValBpc', header: 'best val bpc', value: (r) => r.bestValBpc, format: (v) => (v as number).toFixed(3), best: 'low' },
  { id: 'exactMatch', header: 'exact match', value: (r) => r.exactMatch, format: (v) => `${(100 * (v as number)).toFixed(1)}%`, best: 'high' },
  { id: 'steps', header: 'steps', value: (r) => r.steps, format: (v) => String(v) },
  { id: 'seconds', header: 'time (s)', value: (r) => r.seconds, format: (v) => (v as number).toFixed(1), best: 'low' },
];

/** Ascending by `value`, missing values last; strings before numbers never mix within one column. */
export function compareBy(value: Column['value'], dir: 1 | -1) {
  return (a: SweepTableRow, b: SweepTableRow): number => {
    const x = value(a);
    const y = value(b);
    if (x === undefined || y === undefined) return x === y ? a.index - b.index : x === undefined ? 1 : -1;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return c !== 0 ? dir * c : a.index - b.index;
  };
}

export class SweepTable {
  readonly element = document.createElement('section');
  private table: Table | undefined;
  private sort: { id: string; dir: 1 | -1 } | undefined;

  constructor() {
    this.element.className = 'sweep-table';
    this.element.hidden = true;
  }

  show(table: Table): void {
    this.table = table;
    this.render();
  }

  /** Sorts by a column: ascending first, descending on the next click. */
  sortBy(id: string): void {
    this.sort = this.sort?.id === id ? { id, dir: this.sort.dir === 1 ? -1 : 1 } : { id, dir: 1 };
    this.render();
  }

  private columns(t: Table): Column[] {
    const fields: Column[] = t.keys.map((k) => ({ id: `value:${k}`, header: k, value: (r) => r.values[k], format: (v) => String(v) }));
    const metrics = METRICS.filter((m) => t.rows.some((r) => m.value(r) !== undefined));
    return [...fields, ...metrics, { id: 'status', header: 'status', value: (r) => r.status, format: (v) => String(v) }];
  }

  private render(): void {
    const t = this.table;
    this.element.replaceChildren();
    if (!t) return;
    this.element.hidden = false;
    const cols = this.columns(t);
    const sorted = [...t.rows];
    const sortCol = cols.find((c) => c.id === this.sort?.id);
    sorted.sort(sortCol ? compareBy(sortCol.value, this.sort!.dir) : (a, b) => a.index - b.index);
    const caption = document.createElement('caption');
    caption.textContent = `Sweep ${t.name}: ${t.rows.length} runs`;
    const head = document.createElement('tr');
    for (const c of cols) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.dataset.col = c.id;
      th.className = c.id.startsWith('value:') || c.id === 'status' ? 'field' : 'metric';
      const b = document.createElement('button');
      b.type = 'button';
      const arrow = sortCol === c ? (this.sort!.dir === 1 ? ' \u25B2' : ' \u25BC') : '';
      b.textContent = c.header + arrow;
      b.title = `Sort by ${c.header}`;
      b.addEventListener('click', () => this.sortBy(c.id));
      th.setAttribute('aria-sort', sortCol === c ? (this.sort!.dir === 1 ? 'ascending' : 'descending') : 'none');
      th.append(b);
      head.append(th);
    }
    const best = new Map<string, number>();
    for (const c of cols) {
      if (!c.best) continue;
      const vs = t.rows.map(c.value).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (vs.length > 1) best.set(c.id, c.best === 'low' ? Math.min(...vs) : Math.max(...vs));
    }
    const body = document.createElement('tbody');
    for (const r of sorted) {
      const tr = document.createElement('tr');
      tr.dataset.run = r.runId;
      for (const c of cols) {
        const td = document.createElement('td');
        const v = c.value(r);
        td.textContent = v === undefined ? '' : c.format(v);
        td.className = c.id.startsWith('value:') || c.id === 'status' ? 'field' : 'metric';
        if (v !== undefined && best.get(c.id) === v) td.classList.add('best');
        tr.append(td);
      }
      body.append(tr);
    }
    const table = document.createElement('table');
    const thead = document.createElement('thead');
    thead.append(head);
    table.append(caption, thead, body);
    this.element.append(table);
  }
}

/** In a report, the table goes above the charts when the extension sends one. */
/** `onSweep`: told the sweep's id with each table, for the page's saved state. */
export function attachSweepTable(before: Element, onSweep: (sweepId: string) => void): SweepTable {
  const t = new SweepTable();
  before.before(t.element);
  window.addEventListener('message', (event: MessageEvent<ToPanel>) => {
    const m = event.data;
    if (m && m.type === 'sweepTable' && Array.isArray(m.rows) && Array.isArray(m.keys)) {
      t.show(m);
      if (typeof m.sweepId === 'string') onSweep(m.sweepId);
    }
  });
  return t;
}
