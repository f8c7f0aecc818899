// RFM: the 5 × 5 recency × frequency-monetary grid as a heat map (people or revenue per cell),
// the named segments, the migration matrix between two dates; a cell or a segment lists its
// customers, who can be saved as a list.
import { canWrite, post, send } from './api.js';
import { VOCABULARY } from './vocabulary.js';
import { empty, failure, h, loading, num, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;
const day = (ms) => new Date(ms).toISOString().slice(0, 10);

/// Reads JSON lines (an export in `jsonl`).
async function jsonLines(path, body) {
  const text = await (await send('POST', path, body, 'application/x-ndjson')).text();
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/// Saves `ids` as a new list of people (members added 10,000 at a time).
async function saveAsList(name, ids) {
  const list = await post('/v1/lists', { name, entity: 'people', description: 'From the RFM page' });
  for (let i = 0; i < ids.length; i += 10_000) {
    await post(`/v1/lists/${enc(list.id)}/members`, { add: ids.slice(i, i + 10_000) });
  }
  return list;
}

function customers(title, query, request, out) {
  out.replaceChildren(loading(title));
  jsonLines(`/v1/rfm/customers?format=jsonl&${query}`, request).then((people) => {
    const shown = people.slice(0, 200);
    const name = h('input', { id: 'rfm-list-name', value: `${title} ${day(Date.now())}`, maxlength: 200, 'aria-label': 'List name' });
    const save = canWrite() && people.length ? h('form', { class: 'inline', id: 'rfm-save' }, h('label', { for: 'rfm-list-name' }, 'Save them as a list'), name, h('button', { type: 'submit' }, 'Save as list')) : null;
    save?.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const l = await saveAsList(name.value.trim(), people.map((p) => p.profile_id));
        toast(`List ${l.name} saved.`);
        location.hash = `#/lists/${enc(l.id)}`;
      } catch (err) { save.append(failure(err, 'Save')); }
    });
    out.replaceChildren(section(`${title}: ${num(people.length, 0)} customers`,
      save,
      people.length === 0 ? empty('Nobody here.') : table(people.length > shown.length ? `The first ${shown.length}, by id` : null, [
        { label: 'Customer', cell: (p) => h('a', { href: `#/people/${enc(p.profile_id)}` }, p.profile_id) },
        { label: 'Days since', num: true, cell: (p) => num(p.recency_days) },
        { label: 'Purchases', num: true, cell: (p) => num(p.frequency, 0) },
        { label: 'Spent', num: true, cell: (p) => num(p.monetary, 2) },
        { label: 'R F M', cell: (p) => `${p.r} ${p.f} ${p.m}` },
        { label: 'Segment', cell: (p) => p.segment },
      ], shown)));
    out.scrollIntoView({ block: 'nearest' });
  }).catch((err) => out.replaceChildren(failure(err, title)));
}

function heatmap(report, metric, pick) {
  const max = Math.max(1, ...report.grid.map((c) => c[metric]));
  const grid = h('div', { class: 'heat', role: 'grid', 'aria-label': `Customers per cell: recency down, frequency-monetary across (${metric})` });
  grid.append(h('div', { class: 'corner', role: 'presentation' }, 'R \\ FM'));
  for (let fm = 1; fm <= 5; fm++) grid.append(h('div', { class: 'axis', role: 'columnheader' }, `FM ${fm}`));
  for (let r = 5; r >= 1; r--) {
    grid.append(h('div', { class: 'axis', role: 'rowheader' }, `R ${r}`));
    for (let fm = 1; fm <= 5; fm++) {
      const c = report.grid.find((x) => x.r === r && x.fm === fm);
      const share = c[metric] / max;
      const cell = h('button', {
        type: 'button', class: 'cell', role: 'gridcell', 'data-r': r, 'data-fm': fm, 'data-people': c.people, 'data-revenue': c.revenue,
        title: `${c.segment}: ${num(c.people, 0)} customers, ${num(c.revenue, 2)} revenue`,
        onclick: () => pick(`r=${r}&fm=${fm}`, `R ${r} FM ${fm} (${c.segment})`),
      }, h('span', { class: 'seg' }, c.segment), h('span', { class: 'v' }, metric === 'people' ? num(c.people, 0) : num(c.revenue, 0)));
      // Colour by the share of the largest cell (CSSOM, which the CSP allows, not a style attribute).
      cell.style.setProperty('--heat', String(share));
      if (share > 0.55) cell.classList.add('dark');
      grid.append(cell);
    }
  }
  return grid;
}

function segmentsTable(report, pick) {
  return table('Named segments', [
    { label: 'Segment', cell: (s) => h('button', { type: 'button', class: 'link', 'data-segment': s.segment, onclick: () => pick(`segment=${enc(s.segment)}`, s.segment) }, s.segment) },
    { label: 'Customers', num: true, cell: (s) => num(s.people, 0) },
    { label: 'Share', num: true, cell: (s) => `${num(s.share * 100, 1)} %` },
    { label: 'Revenue', num: true, cell: (s) => num(s.revenue, 2) },
    { label: 'Days since (avg)', num: true, cell: (s) => num(s.avg_recency_days) },
    { label: 'Purchases (avg)', num: true, cell: (s) => num(s.avg_frequency) },
    { label: 'Spent (avg)', num: true, cell: (s) => num(s.avg_monetary, 2) },
  ], report.segments);
}

function migrationMatrix(m) {
  const names = m.segments;
  const max = Math.max(1, ...m.matrix.flat());
  return h('table', { class: 'matrix', id: 'rfm-migration' },
    h('caption', {}, `From ${day(m.from_ms)} (rows) to ${day(m.to_ms)} (columns); "none": not a customer then`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), names.map((n) => h('th', { scope: 'col', class: 'num' }, n)))),
    h('tbody', {}, names.map((from, i) => h('tr', {}, h('th', { scope: 'row' }, from), names.map((to, j) => {
      const v = m.matrix[i][j];
      const td = h('td', { class: `num ${i === j ? 'diag' : ''}`, 'data-from': from, 'data-to': to }, v ? num(v, 0) : '·');
      td.style.setProperty('--heat', String(v / max));
      return td;
    })))));
}

export async function rfmPage(params) {
  const asOf = params.get('as_of') || '';
  const metric = params.get('metric') === 'revenue' ? 'revenue' : 'people';
  const request = asOf ? { as_of: asOf } : {};
  const report = await post('/v1/rfm', request);
  const out = h('div', { id: 'rfm-people' });
  const pick = (query, title) => customers(title, query, request, out);

  const dateInput = h('input', { id: 'rfm-as-of', name: 'as_of', type: 'date', value: asOf || day(report.as_of_ms) });
  const metricSel = h('select', { id: 'rfm-metric', name: 'metric' }, h('option', { value: 'people', selected: metric === 'people' }, 'customers'), h('option', { value: 'revenue', selected: metric === 'revenue' }, 'revenue'));
  const controls = h('form', { class: 'inline', id: 'rfm-controls' },
    h('label', { for: 'rfm-as-of' }, 'As of'), dateInput, h('label', { for: 'rfm-metric' }, 'Colour by'), metricSel, h('button', { type: 'submit' }, 'Show'));
  controls.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/rfm?as_of=${enc(dateInput.value)}&metric=${metricSel.value}`;
  });

  const from = h('input', { id: 'migration-from', type: 'date', value: day(report.as_of_ms - 90 * 86_400_000) });
  const to = h('input', { id: 'migration-to', type: 'date', value: day(report.as_of_ms) });
  const migOut = h('div', { id: 'migration-out' });
  const migForm = h('form', { class: 'inline', id: 'migration-form' }, h('label', { for: 'migration-from' }, 'From'), from, h('label', { for: 'migration-to' }, 'to'), to, h('button', { type: 'submit' }, 'Show migration'));
  migForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    migOut.replaceChildren(loading('the migration'));
    try {
      const m = await post('/v1/rfm/migration', { from: from.value, to: to.value });
      const moved = m.flows.filter((f) => f.segment !== 'none');
      migOut.replaceChildren(migrationMatrix(m), table('Per segment', [
        { label: 'Segment', cell: (f) => f.segment },
        { label: `On ${day(m.from_ms)}`, num: true, cell: (f) => num(f.at_from, 0) },
        { label: `On ${day(m.to_ms)}`, num: true, cell: (f) => num(f.at_to, 0) },
        { label: 'Stayed', num: true, cell: (f) => num(f.stayed, 0) },
        { label: 'Arrived', num: true, cell: (f) => num(f.arrivals, 0) },
        { label: 'Left', num: true, cell: (f) => num(f.departures, 0) },
      ], moved));
    } catch (err) { migOut.replaceChildren(failure(err, 'Migration')); }
  });

  const summary = h('dl', { class: 'facts' },
    h('div', {}, h('dt', {}, 'Customers'), h('dd', { id: 'rfm-customers' }, num(report.customers, 0))),
    h('div', {}, h('dt', {}, 'Revenue'), h('dd', {}, num(report.revenue, 2))),
    h('div', {}, h('dt', {}, 'Window'), h('dd', {}, `${report.spec.window_days} days`)),
    h('div', {}, h('dt', {}, 'As of'), h('dd', {}, when(report.as_of_ms))));
  return h('div', { class: 'page' },
    h('h1', {}, 'RFM'),
    h('p', { class: 'help' }, `Customers who made ${report.spec.purchase_event} in the window, scored 1 to 5 on recency (R), frequency (F) and money (M) by quintiles of their own values; FM is (F + M) / 2 rounded up. ${VOCABULARY.rfm.length} named segments cover the grid.`),
    controls, summary,
    report.customers === 0 ? section('Grid', empty('No customer in the window yet: nobody has a purchase to score.')) : [
      section('Recency × frequency-monetary', heatmap(report, metric, pick), h('p', { class: 'help' }, 'Select a cell to list its customers.')),
      section('Segments', segmentsTable(report, pick))],
    out,
    section('Migration between two dates', migForm, migOut));
}
