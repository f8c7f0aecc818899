// Charts over days, drawn by the vendored uPlot (vendor/README.md): one x axis of UTC days,
// one or more series, a legend that reads each day's values, sized to its box.
import uPlot from './uplot.esm.js';
import { empty, h } from './ui.js';

const COLORS = ['#2f5bea', '#e8590c', '#0b8a6d', '#9c36b5', '#c92a2a', '#5c940d', '#1098ad', '#e67700'];

/// Every day from the first to the last of `days` (`YYYY-MM-DD`), so gaps show as zeros.
export function dayRange(days) {
  const sorted = [...days].sort();
  if (sorted.length === 0) return [];
  const out = [];
  const end = Date.parse(`${sorted[sorted.length - 1]}T00:00:00Z`);
  // At least two weeks, so a single day reads as a day and not as a span of years.
  const start = Math.min(Date.parse(`${sorted[0]}T00:00:00Z`), end - 13 * 86_400_000);
  for (let t = start; t <= end; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/// A chart of `series` (`{label, values: {day: n}}`) over the days they name. `kind`: `line`,
/// `bars` or `area` (stacked look without stacking: filled lines).
export function dayChart(label, series, { kind = 'line', height = 220, id } = {}) {
  const days = dayRange(series.flatMap((s) => Object.keys(s.values)));
  if (days.length === 0) return empty('Nothing in this range.');
  const box = h('figure', { class: 'uchart', id, role: 'img', 'aria-label': label });
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const data = [xs, ...series.map((s) => days.map((d) => s.values[d] || 0))];
  const bars = kind === 'bars' && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8 / Math.max(1, series.length), 40], gap: 1 }) : null;
  const opts = {
    width: 600,
    height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#5b6475', grid: { stroke: '#eceef2' } }, { stroke: '#5b6475', grid: { stroke: '#eceef2' }, size: 64 }],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    series: [{ label: 'Day', value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        width: 2,
        fill: kind === 'area' || kind === 'bars' ? `${s.color || COLORS[i % COLORS.length]}33` : undefined,
        paths: bars || undefined,
        points: { show: days.length < 60 },
      }))],
  };
  // Drawn once the box is in the page (it needs the box's width), and again when it changes.
  let plot = null;
  const size = () => Math.max(280, box.clientWidth || 600);
  const draw = () => {
    if (!box.isConnected) return;
    if (!plot) {
      plot = new uPlot({ ...opts, width: size() }, data, box);
      new ResizeObserver(() => plot.setSize({ width: size(), height })).observe(box);
    }
  };
  requestAnimationFrame(function wait() { if (box.isConnected) draw(); else requestAnimationFrame(wait); });
  // The numbers, for screen readers and for checking: a table under the chart.
  const t = h('div', { class: 'sr-only' }, h('table', {}, h('caption', {}, label),
    h('thead', {}, h('tr', {}, h('th', {}, 'Day'), series.map((s) => h('th', {}, s.label)))),
    h('tbody', {}, days.map((d, i) => h('tr', {}, h('td', {}, d), series.map((_, j) => h('td', {}, String(data[j + 1][i]))))))));
  return h('div', { class: 'chart-wrap' }, box, t);
}

/// A histogram of `buckets` (`[{label, count}]`), as plain bars (SVG-free: elements sized by
/// the CSSOM), with the numbers as text.
export function histogram(label, buckets, { id } = {}) {
  if (buckets.length === 0) return empty('Nothing to show.');
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const list = h('ol', { class: 'histogram', id, 'aria-label': label },
    buckets.map((b) => {
      const bar = h('span', { class: 'bar' });
      bar.style.setProperty('--share', String(b.count / max));
      return h('li', { 'data-label': b.label, 'data-count': b.count, title: `${b.label}: ${b.count}` }, bar, h('span', { class: 'n' }, b.count.toLocaleString('en')), h('span', { class: 'l' }, b.label));
    }));
  return list;
}
