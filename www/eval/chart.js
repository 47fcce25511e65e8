// The comparison of kept results (store.js): an SVG bar chart drawn here (no library) of one
// metric per task, one bar per model and subset, the standard error as a whisker, and a table with
// the same numbers (the chart's accessible equivalent). Horizontal bars, labels above each bar, so
// it reads on a 390-px phone. Text is set with textContent only.

const NS = 'http://www.w3.org/2000/svg';

/** The metrics the chart can show: which tasks have them, and the scale of their axis. */
export const CHART_METRICS = {
  acc: { label: 'acc', stderr: 'acc_stderr', unit: 1 },
  acc_norm: { label: 'acc_norm', stderr: 'acc_norm_stderr', unit: 1 },
  perplexity: { label: 'perplexity (LAMBADA)', stderr: null, unit: null },
};

/** "first 200" or "all 2376": the subset a result was scored on. */
export function subsetLabel(r) {
  return r.limit === null || r.limit === undefined ? `all ${r.n}` : `first ${r.limit}`;
}

/** A result's series name: the model and the subset. */
export function seriesLabel(r) {
  return `${r.model_name ?? r.model_id}, ${subsetLabel(r)}`;
}

/**
 * The bars of `metric` from kept results: [{task, bars: [{key, series, label, value, se}]}], tasks
 * by name, bars by series name; results without the metric are left out.
 */
export function chartGroups(results, metric) {
  const m = CHART_METRICS[metric];
  const byTask = new Map();
  for (const r of results) {
    const value = r.metrics?.[metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    const se = m.stderr ? r.metrics[m.stderr] : undefined;
    const bar = { key: r.key, series: seriesLabel(r), model: r.model_id, value, se: typeof se === 'number' ? se : null };
    if (!byTask.has(r.task)) byTask.set(r.task, []);
    byTask.get(r.task).push(bar);
  }
  return [...byTask.keys()].sort().map((task) => ({ task, bars: byTask.get(task).sort((a, b) => a.series.localeCompare(b.series)) }));
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const WIDTH = 360;
const LEFT = 6;
const RIGHT = 6;
const TASK_ROW = 22;
const BAR_ROW = 36;
const BAR_HEIGHT = 12;

function fmtValue(v, se) {
  return se === null ? v.toFixed(3) : `${v.toFixed(4)} ± ${se.toFixed(4)}`;
}

function shorten(s, max) {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * Draws `metric` of `results` into `box` (replacing what is there); returns the number of bars.
 * Each model gets one colour (class chart-s0…s5) across tasks.
 */
export function drawChart(box, results, metric) {
  box.replaceChildren();
  const groups = chartGroups(results, metric);
  const nBars = groups.reduce((n, g) => n + g.bars.length, 0);
  if (nBars === 0) return 0;
  const models = [...new Set(results.map((r) => r.model_id))].sort();
  const unit = CHART_METRICS[metric].unit;
  const top = unit ?? Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value + (b.se ?? 0)))) * 1.1;
  const plot = WIDTH - LEFT - RIGHT;
  const x = (v) => LEFT + (Math.max(0, Math.min(v, top)) / top) * plot;
  const height = groups.length * TASK_ROW + nBars * BAR_ROW + 18;
  const root = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: 'img',
    'aria-label': `Bar chart of ${CHART_METRICS[metric].label} by task, one bar per model and subset, standard error as whiskers; the table below has the same numbers.`,
    class: 'eval-chart-svg',
    'data-testid': 'eval-chart-svg',
  });
  let y = 0;
  for (const g of groups) {
    root.append(svg('text', { x: LEFT, y: y + 15, class: 'chart-task' }, g.task));
    y += TASK_ROW;
    for (const b of g.bars) {
      const s = models.indexOf(b.model) % 6;
      root.append(svg('text', { x: LEFT, y: y + 11, class: 'chart-label' }, shorten(b.series, 34)));
      root.append(svg('text', { x: WIDTH - RIGHT, y: y + 11, class: 'chart-value', 'text-anchor': 'end' }, fmtValue(b.value, b.se)));
      const barY = y + 16;
      const bar = svg('rect', {
        x: LEFT,
        y: barY,
        width: Math.max(1, x(b.value) - LEFT),
        height: BAR_HEIGHT,
        class: `chart-bar chart-s${s}`,
        'data-task': g.task,
        'data-series': b.series,
        'data-value': b.value,
      });
      bar.append(svg('title', {}, `${g.task}, ${b.series}: ${fmtValue(b.value, b.se)}`));
      root.append(bar);
      if (b.se !== null) {
        const cy = barY + BAR_HEIGHT / 2;
        const x0 = x(b.value - b.se);
        const x1 = x(b.value + b.se);
        root.append(svg('line', { x1: x0, x2: x1, y1: cy, y2: cy, class: 'chart-whisker', 'data-se': b.se }));
        for (const xe of [x0, x1]) root.append(svg('line', { x1: xe, x2: xe, y1: cy - 5, y2: cy + 5, class: 'chart-whisker' }));
      }
      y += BAR_ROW;
    }
  }
  // The axis: 0 and the top of the scale.
  root.append(svg('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y + 2, y2: y + 2, class: 'chart-axis' }));
  root.append(svg('text', { x: LEFT, y: y + 15, class: 'chart-label' }, '0'));
  root.append(svg('text', { x: WIDTH - RIGHT, y: y + 15, class: 'chart-label', 'text-anchor': 'end' }, unit ? '1' : top.toFixed(1)));
  box.append(root);
  return nBars;
}

/**
 * The table of kept results (every metric the chart can show, with standard errors), one row per
 * result, each with a Remove button calling `onRemove(key)`.
 */
export function fillCompareTable(tbody, results, onRemove) {
  tbody.replaceChildren();
  const sorted = [...results].sort((a, b) => a.task.localeCompare(b.task) || seriesLabel(a).localeCompare(seriesLabel(b)));
  for (const r of sorted) {
    const tr = document.createElement('tr');
    const cell = (text) => {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    };
    const m = r.metrics ?? {};
    const pair = (v, se) => (typeof v === 'number' ? (typeof se === 'number' ? `${v.toFixed(4)} ± ${se.toFixed(4)}` : v.toFixed(4)) : '');
    cell(r.task);
    cell(r.model_name ?? r.model_id);
    cell(subsetLabel(r));
    cell(pair(m.acc, m.acc_stderr));
    cell(pair(m.acc_norm, m.acc_norm_stderr));
    cell(pair(m.perplexity));
    cell(r.executor ?? '');
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Remove';
    button.setAttribute('aria-label', `Remove ${r.task}, ${seriesLabel(r)} from the comparison`);
    button.dataset.testid = 'eval-compare-remove';
    button.addEventListener('click', () => onRemove(r.key));
    td.append(button);
    tr.append(td);
    tbody.append(tr);
  }
}
