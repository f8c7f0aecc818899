// Building the page: elements from data (text only, never HTML from data), formatting, states.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function when(ms) {
  if (ms === undefined || ms === null) return '';
  const d = new Date(ms);
  return d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function num(x, digits = 1) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  return Number(x).toLocaleString('en', { maximumFractionDigits: digits });
}

export function signed(x) {
  return (x > 0 ? '+' : '') + num(x);
}

export const STAGES = {
  name: 'Known name', mql: 'Marketing-qualified', sales_accepted: 'With sales',
  recycled: 'Recycled', customer: 'Customer',
};

export function loading(what) {
  return h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`);
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/// An API error as the page shows it: the message, the field it names, the request id to quote.
export function failure(err, what) {
  if (err && err.status === 0) {
    return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'The query API is not answering. '), err.message, ' Try again in a moment.');
  }
  if (err && err.status === 503) {
    return h('div', { class: 'error', role: 'alert' }, h('strong', {}, `${what ? `${what}: ` : ''}the store is not answering. `),
      'Nothing was changed. ',
      h('button', { type: 'button', class: 'quiet', onclick: () => window.dispatchEvent(new HashChangeEvent('hashchange')) }, 'Try again'),
      err.requestId ? h('span', { class: 'rid' }, ` request ${err.requestId}`) : null);
  }
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, what ? `${what}: ` : ''), err.message,
    err.field ? h('span', { class: 'field' }, ` (field ${err.field})`) : null,
    err.requestId ? h('span', { class: 'rid' }, ` request ${err.requestId}`) : null);
}

export function table(caption, columns, rows) {
  return h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r)))))));
}

export function section(title, ...body) {
  const id = 'sec-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...body);
}

let toastTimer;
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 5000);
}

/// A step chart of score values over time (points `{t, i, v, title}`: time, order, value); each
/// point is titled with the change that made it.
export function stepChart(series, label) {
  const W = 640, H = 180, L = 36, R = 8, T = 8, B = 22;
  const all = series.flatMap((x) => x.points);
  if (all.length === 0) return empty('No score changes yet.');
  const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  const vmax = Math.max(1, ...all.map((p) => p.v)), vmin = Math.min(0, ...all.map((p) => p.v));
  // Changes within a minute of each other (one visit, one batch) are spread in their order
  // instead of stacked on one instant.
  const byOrder = t1 - t0 < 60_000;
  const n = Math.max(...all.map((p) => p.i));
  const x = (p) => L + (byOrder ? (n > 0 ? p.i / n : 0.5) : (p.t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - vmin) / (vmax - vmin)) * (H - T - B);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });
  for (const v of [vmin, (vmin + vmax) / 2, vmax]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, num(v, 0)));
  }
  svg.append(s('text', { x: L, y: H - 4, class: 'axis' }, byOrder ? when(t0) : when(t0).slice(0, 10)));
  svg.append(s('text', { x: W - R, y: H - 4, class: 'axis', 'text-anchor': 'end' }, byOrder ? 'in order' : when(t1).slice(0, 10)));
  series.forEach((ser, i) => {
    let d = '';
    ser.points.forEach((p, j) => {
      d += j === 0 ? `M${x(p)},${y(p.v)}` : `H${x(p)}V${y(p.v)}`;
    });
    d += `H${W - R}`;
    svg.append(s('path', { d, class: `line c${i}` }));
    for (const p of ser.points) {
      svg.append(s('circle', { cx: x(p), cy: y(p.v), r: 3.5, class: `dot c${i}` }, s('title', {}, p.title)));
    }
  });
  const legend = h('ul', { class: 'legend' }, series.map((ser, i) => h('li', { class: `c${i}` }, ser.name)));
  return h('figure', { class: 'chart-box' }, svg, legend);
}
