// Segments: the saved ones, and one segment in the builder (live count and sample as the
// conditions change, the JSON form beside it), saved, renamed, deleted, snapshotted and compared
// over time, exported.
import { canWrite, del, download, get, post, put } from './api.js';
import { builder, markError } from './builder.js';
import { empty, failure, h, loading, num, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;

export async function segmentsPage() {
  const { segments } = await get('/v1/segments');
  const list = segments.length === 0
    ? empty('No saved segment yet.')
    : table('Saved segments', [
      { label: 'Name', cell: (s) => h('a', { href: `#/segments/${enc(s.id)}` }, s.name) },
      { label: 'Description', cell: (s) => s.description },
      { label: 'Changed', cell: (s) => when(s.updated_ms) },
    ], [...segments].sort((a, b) => a.name.localeCompare(b.name)));
  return h('div', { class: 'page' },
    h('div', { class: 'titlebar' }, h('h1', {}, 'Segments'),
      h('a', { class: 'button', href: '#/segments/new', id: 'new-segment' }, 'New segment')),
    section('Saved segments', list));
}

/// Where the builder stands: the definition being edited, and what the count last said.
function preview(state, out, tree) {
  let timer = null;
  let asked = 0;
  const run = async () => {
    const mine = ++asked;
    const d = state.definition;
    if ((d.and && d.and.length === 0) || (d.or && d.or.length === 0)) {
      out.count.textContent = '–';
      out.count.dataset.count = '';
      out.status.textContent = 'Add a condition to see who matches.';
      out.sample.replaceChildren();
      markError(tree, null);
      return;
    }
    out.status.textContent = 'Counting…';
    out.box.setAttribute('aria-busy', 'true');
    try {
      const p = await post('/v1/segments/preview', { segment: d, sample: 10 });
      if (mine !== asked) return;
      out.count.textContent = num(p.count, 0);
      out.count.dataset.count = String(p.count);
      out.status.textContent = `people match, counted ${when(p.as_of_ms)}`;
      out.sample.replaceChildren(...p.sample.map((id) => h('li', {}, h('a', { href: `#/people/${enc(id)}` }, id))));
      markError(tree, null);
      out.error.hidden = true;
    } catch (err) {
      if (mine !== asked) return;
      out.count.textContent = '–';
      out.count.dataset.count = '';
      out.status.textContent = 'The definition is not complete yet.';
      out.sample.replaceChildren();
      out.error.hidden = false;
      out.error.replaceChildren(failure(err));
      markError(tree, err.field, err.message);
    } finally {
      if (mine === asked) out.box.removeAttribute('aria-busy');
    }
  };
  return {
    now: run,
    soon: () => { clearTimeout(timer); timer = setTimeout(run, 350); },
  };
}

function jsonPane(state, onApply) {
  const area = h('textarea', { id: 'segment-json', class: 'json', rows: 14, spellcheck: 'false', 'aria-describedby': 'json-help json-error' });
  const error = h('p', { id: 'json-error', class: 'error', hidden: true, role: 'alert' });
  const show = () => { area.value = JSON.stringify(state.definition, null, 2); area.removeAttribute('aria-invalid'); error.hidden = true; };
  const apply = h('button', { type: 'button', class: 'quiet', id: 'apply-json' }, 'Use this JSON');
  apply.addEventListener('click', () => {
    try {
      const d = JSON.parse(area.value);
      if (!d || typeof d !== 'object' || Array.isArray(d)) throw new Error('a segment is a JSON object');
      state.definition = d;
      onApply();
    } catch (e) {
      area.setAttribute('aria-invalid', 'true');
      error.hidden = false;
      error.textContent = `Not JSON the builder can open: ${e.message}`;
    }
  });
  show();
  return {
    show,
    el: h('details', { class: 'jsonpane' }, h('summary', {}, 'JSON'),
      h('p', { id: 'json-help', class: 'help' }, 'The same definition as the API takes it (POST /v1/segments/preview, /v1/segments). Edit it and use it to open it in the builder.'),
      area, h('div', { class: 'row' }, apply), error),
  };
}

async function snapshotsSection(id) {
  const body = h('div', { id: 'snapshots' });
  const draw = async () => {
    body.replaceChildren(loading('snapshots'));
    try {
      const { snapshots } = await get(`/v1/segments/${enc(id)}/snapshots`);
      const compareOut = h('div', { id: 'comparison' });
      const take = canWrite() ? h('button', { type: 'button', id: 'take-snapshot', class: 'quiet', onclick: async (e) => {
        e.target.disabled = true;
        try { const s = await post(`/v1/segments/${enc(id)}/snapshots`); toast(`Snapshot of ${num(s.count, 0)} people kept.`); await draw(); } catch (err) { body.append(failure(err, 'Snapshot')); e.target.disabled = false; }
      } }, 'Take a snapshot now') : null;
      const rows = [...snapshots].sort((a, b) => b.taken_ms - a.taken_ms);
      const compare = async (from, to) => {
        compareOut.replaceChildren(loading('the comparison'));
        try {
          const c = await get(`/v1/segments/${enc(id)}/compare?from=${enc(from)}&to=${enc(to)}&sample=10`);
          const ids = (xs) => xs.length ? h('ul', { class: 'plain' }, xs.map((x) => h('li', {}, h('a', { href: `#/people/${enc(x)}` }, x)))) : empty('nobody');
          compareOut.replaceChildren(h('div', { class: 'compare' },
            h('p', {}, `From ${when(c.from.taken_ms)} (${num(c.from.count, 0)}) to ${c.to.id === 'now' ? 'now' : when(c.to.taken_ms)} (${num(c.to.count, 0)}): `,
              h('strong', { 'data-stayed': c.stayed }, `${num(c.stayed, 0)} stayed`), ', ',
              h('strong', { 'data-joined': c.joined }, `${num(c.joined, 0)} joined`), ', ',
              h('strong', { 'data-left': c.left }, `${num(c.left, 0)} left`), '.'),
            h('div', { class: 'columns even' }, h('div', {}, h('h3', {}, 'First who joined'), ids(c.joined_sample)), h('div', {}, h('h3', {}, 'First who left'), ids(c.left_sample)))));
        } catch (err) { compareOut.replaceChildren(failure(err, 'Compare')); }
      };
      body.replaceChildren(
        take ? h('div', { class: 'row' }, take) : null,
        rows.length === 0 ? empty('No snapshot yet: a snapshot keeps who is in the segment now, to compare with later.')
          : table('Snapshots, newest first', [
            { label: 'Taken', cell: (s) => when(s.taken_ms) },
            { label: 'People', num: true, cell: (s) => num(s.count, 0) },
            { label: '', cell: (s) => h('button', { type: 'button', class: 'quiet', 'data-compare': s.id, onclick: () => compare(s.id, 'now') }, 'Compare with now') },
          ], rows),
        compareOut);
    } catch (err) { body.replaceChildren(failure(err, 'Snapshots')); }
  };
  await draw();
  return section('Snapshots over time', body);
}

function exportButtons(id, name) {
  const box = h('div', { class: 'row', id: 'segment-export' });
  for (const [format, label] of [['csv', 'CSV'], ['jsonl', 'JSON lines'], ['parquet', 'Parquet']]) {
    box.append(h('button', { type: 'button', class: 'quiet', 'data-format': format, onclick: async (e) => {
      e.target.disabled = true;
      try {
        const bytes = await download('GET', `/v1/segments/${enc(id)}/export?format=${format}`, undefined, `${name || id}.${format}`);
        toast(`Exported ${num(bytes / 1024, 1)} KiB.`);
      } catch (err) { toast(`Export failed: ${err.message}`); }
      e.target.disabled = false;
    } }, label));
  }
  return box;
}

export async function segmentPage(id) {
  const isNew = id === 'new';
  const [saved, { segments }, { lists }] = await Promise.all([
    isNew ? null : get(`/v1/segments/${enc(id)}`).catch((err) => { if (err.status === 404) return undefined; throw err; }),
    get('/v1/segments'),
    get('/v1/lists'),
  ]);
  if (saved === undefined) {
    return h('div', { class: 'page' }, h('h1', {}, 'Segments'), empty(`There is no segment ${id}.`), h('p', {}, h('a', { href: '#/segments' }, 'All segments')));
  }
  const state = { definition: saved ? structuredClone(saved.definition) : { and: [] } };
  const tree = h('div', { class: 'builder', id: 'builder' });
  const out = {
    box: h('aside', { class: 'count', id: 'live-count', 'aria-live': 'polite' }),
    count: h('strong', { id: 'segment-count', class: 'big' }, '–'),
    status: h('span', { class: 'help' }, ''),
    sample: h('ol', { class: 'plain', id: 'segment-sample' }),
    error: h('div', { id: 'segment-error', hidden: true }),
  };
  out.box.append(h('h2', {}, 'Who matches'), out.count, ' ', out.status, out.error, h('h3', {}, 'First by id'), out.sample);
  const counter = preview(state, out, tree);
  let pane;
  const b = builder(tree, state, { segments, lists, self: saved?.id }, () => { pane.show(); counter.soon(); });
  pane = jsonPane(state, () => { b.draw(); pane.show(); counter.now(); });

  const name = h('input', { id: 'segment-name', name: 'name', required: true, maxlength: 200, value: saved?.name || '', 'aria-describedby': 'save-error', readonly: !canWrite() });
  const description = h('input', { id: 'segment-description', name: 'description', value: saved?.description || '', readonly: !canWrite() });
  const saveError = h('p', { id: 'save-error', class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline', id: 'segment-form', novalidate: true },
    h('label', { for: 'segment-name' }, 'Name'), name,
    h('label', { for: 'segment-description' }, 'Description'), description,
    canWrite() ? h('button', { type: 'submit', id: 'save-segment' }, isNew ? 'Save segment' : 'Save changes') : null,
    canWrite() && !isNew ? h('button', { type: 'button', class: 'quiet danger', id: 'delete-segment', onclick: async () => {
      if (!window.confirm(`Delete the segment ${saved.name}?`)) return;
      try { await del(`/v1/segments/${enc(saved.id)}`); toast('Deleted.'); location.hash = '#/segments'; } catch (err) { saveError.hidden = false; saveError.textContent = err.message; }
    } }, 'Delete') : null,
    saveError);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    saveError.hidden = true;
    name.removeAttribute('aria-invalid');
    const body = { name: name.value.trim(), description: description.value.trim(), definition: state.definition };
    try {
      const s = isNew ? await post('/v1/segments', body) : await put(`/v1/segments/${enc(saved.id)}`, body);
      toast(isNew ? 'Saved.' : 'Changes saved.');
      if (isNew) location.hash = `#/segments/${enc(s.id)}`;
    } catch (err) {
      saveError.hidden = false;
      saveError.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
      if (err.field === 'name') name.setAttribute('aria-invalid', 'true');
      else markError(tree, err.field, err.message);
    }
  });
  counter.now();
  return h('div', { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/segments' }, 'Segments'), ' / ', saved ? saved.name : 'New segment'),
    h('h1', {}, saved ? saved.name : 'New segment'),
    section('Details', form),
    h('div', { class: 'columns' },
      h('div', {}, section('Conditions', tree, pane.el)),
      h('div', {}, out.box,
        saved ? section('Export', h('p', { class: 'help' }, 'Everybody in the segment now, with their scores and traits.'), exportButtons(saved.id, saved.name)) : null)),
    saved ? await snapshotsSection(saved.id) : null);
}
