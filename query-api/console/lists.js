// Lists: static marketing lists of people or of accounts. Create one, add a segment's people,
// import a CSV file (with its progress and the rows that matched nobody), copy, combine
// (union, intersection, difference), page through the members, export.
import { canWrite, del, download, get, patch, post, upload } from './api.js';
import { STAGES, empty, failure, h, loading, num, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;

function createForm(onDone) {
  const name = h('input', { id: 'list-name', name: 'name', required: true, maxlength: 200, 'aria-describedby': 'list-error' });
  const entity = h('select', { id: 'list-entity', name: 'entity' }, h('option', { value: 'people' }, 'People'), h('option', { value: 'accounts' }, 'Accounts'));
  const description = h('input', { id: 'list-description', name: 'description' });
  const error = h('p', { id: 'list-error', class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline', id: 'create-list', novalidate: true },
    h('label', { for: 'list-name' }, 'Name'), name,
    h('label', { for: 'list-entity' }, 'Of'), entity,
    h('label', { for: 'list-description' }, 'Description'), description,
    h('button', { type: 'submit' }, 'Create list'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    name.removeAttribute('aria-invalid');
    try {
      const l = await post('/v1/lists', { name: name.value.trim(), entity: entity.value, description: description.value.trim() });
      onDone(l);
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
      if (err.field === 'name') name.setAttribute('aria-invalid', 'true');
    }
  });
  return form;
}

function combineForm(lists) {
  const op = h('select', { id: 'combine-op', name: 'op' },
    h('option', { value: 'union' }, 'Union (on any)'), h('option', { value: 'intersection' }, 'Intersection (on all)'), h('option', { value: 'difference' }, 'Difference (on the first, on none of the others)'));
  const picks = h('fieldset', { class: 'checks', id: 'combine-lists' }, h('legend', {}, 'Lists, in order'),
    lists.map((l) => h('label', {}, h('input', { type: 'checkbox', value: l.id, 'data-entity': l.entity }), `${l.name} (${l.entity})`)));
  const name = h('input', { id: 'combine-name', name: 'name', required: true, maxlength: 200 });
  const error = h('p', { id: 'combine-error', class: 'error', hidden: true, role: 'alert' });
  const chosen = [];
  picks.addEventListener('change', (e) => {
    const id = e.target.value;
    const at = chosen.indexOf(id);
    if (e.target.checked && at < 0) chosen.push(id); else if (!e.target.checked && at >= 0) chosen.splice(at, 1);
  });
  const form = h('form', { class: 'stack', id: 'combine', novalidate: true },
    h('div', { class: 'inline' }, h('label', { for: 'combine-op' }, 'Combine by'), op), picks,
    h('div', { class: 'inline' }, h('label', { for: 'combine-name' }, 'New list\'s name'), name, h('button', { type: 'submit' }, 'Combine')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const l = await post('/v1/lists/combine', { op: op.value, lists: chosen, name: name.value.trim() });
      toast(`${l.name}: ${num(l.count ?? 0, 0)} members.`);
      location.hash = `#/lists/${enc(l.id)}`;
    } catch (err) {
      error.hidden = false;
      error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    }
  });
  return form;
}

export async function listsPage() {
  const { lists } = await get('/v1/lists');
  const sorted = [...lists].sort((a, b) => a.name.localeCompare(b.name));
  return h('div', { class: 'page' },
    h('h1', {}, 'Lists'),
    section('Lists', sorted.length === 0 ? empty('No list yet.') : table(null, [
      { label: 'Name', cell: (l) => h('a', { href: `#/lists/${enc(l.id)}` }, l.name) },
      { label: 'Of', cell: (l) => l.entity },
      { label: 'Description', cell: (l) => l.description },
      { label: 'Changed', cell: (l) => when(l.updated_ms) },
    ], sorted)),
    canWrite() ? section('New list', createForm((l) => { location.hash = `#/lists/${enc(l.id)}`; })) : null,
    canWrite() && sorted.length >= 2 ? section('Combine lists', combineForm(sorted)) : null);
}

function membersTable(list, first) {
  const body = h('div', { id: 'list-members' });
  const more = h('button', { type: 'button', class: 'quiet' }, 'More members');
  const people = list.entity === 'people';
  const tbody = h('tbody', {});
  const head = people
    ? ['Person', 'Email', 'Stage', 'Grade', 'Score', 'Last seen']
    : ['Account', 'Name', 'People', 'Qualified', 'Score', 'Revenue'];
  const t = h('table', {}, h('caption', {}, `${num(first.count, 0)} members, by id`),
    h('thead', {}, h('tr', {}, head.map((x, i) => h('th', { scope: 'col', class: i >= 4 || (!people && i >= 2) ? 'num' : null }, x)))), tbody);
  let next = first.next_after;
  const add = (members) => {
    for (const m of members) {
      tbody.append(people
        ? h('tr', {}, h('td', {}, h('a', { href: `#/people/${enc(m.profile_id)}` }, m.profile_id)), h('td', {}, m.traits?.email || ''),
          h('td', {}, STAGES[m.lifecycle_stage] || m.lifecycle_stage), h('td', {}, m.grade || '–'), h('td', { class: 'num' }, num(m.score)), h('td', { class: 'num' }, when(m.last_seen_ms)))
        : h('tr', {}, h('td', {}, m.account_id), h('td', {}, m.traits?.name || ''), h('td', { class: 'num' }, num(m.people, 0)),
          h('td', { class: 'num' }, num(m.stages ? (m.stages.mql || 0) + (m.stages.sales_accepted || 0) : 0, 0)), h('td', { class: 'num' }, num(m.score)), h('td', { class: 'num' }, num(m.purchases?.revenue ?? 0, 2))));
    }
    more.hidden = !next;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await get(`/v1/lists/${enc(list.id)}/members?limit=50&after=${enc(next)}`);
      next = page.next_after;
      add(page.members);
    } catch (err) { body.append(failure(err, 'Members')); }
    more.disabled = false;
  });
  add(first.members);
  body.append(first.count === 0 ? empty('Nobody on the list yet.') : t, more);
  return body;
}

/// The CSV import: a file, what to match on, the upload's progress, then the report with the
/// rows that matched nobody.
function importForm(list, reload) {
  const file = h('input', { id: 'import-file', name: 'file', type: 'file', accept: '.csv,text/csv', required: true, 'aria-describedby': 'import-help' });
  const match = h('select', { id: 'import-match', name: 'match' },
    h('option', { value: '' }, 'the first of email, user_id, account_id'),
    list.entity === 'people' ? [h('option', { value: 'email' }, 'email'), h('option', { value: 'user_id' }, 'user id')] : null,
    h('option', { value: 'account_id' }, 'account id'));
  const progress = h('progress', { id: 'import-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Upload' });
  const report = h('div', { id: 'import-report', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack', id: 'import', novalidate: true },
    h('div', { class: 'inline' }, h('label', { for: 'import-file' }, 'CSV file'), file, h('label', { for: 'import-match' }, 'Match on'), match, h('button', { type: 'submit' }, 'Import')),
    h('p', { id: 'import-help', class: 'help' }, 'A header row first; each row is matched by its email, user id or account id to the people (or accounts) already known. Up to 100,000 rows.'),
    progress, report);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { report.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'Choose a CSV file first.')); return; }
    progress.hidden = false;
    progress.value = 0;
    report.replaceChildren(h('p', { class: 'loading', role: 'status' }, `Sending ${f.name}…`));
    try {
      const r = await upload(`/v1/lists/${enc(list.id)}/import${match.value ? `?match=${match.value}` : ''}`, f, 'text/csv', (x) => { progress.value = x; });
      progress.value = 1;
      report.replaceChildren(
        h('p', { class: 'note', id: 'import-summary' }, `${num(r.rows, 0)} rows matched on ${r.match_on}: `,
          h('strong', { 'data-added': r.added }, `${num(r.added, 0)} added`), `, ${num(r.already, 0)} already on the list, `,
          h('strong', { 'data-unmatched': r.unmatched_count }, `${num(r.unmatched_count, 0)} matched nobody`), `. The list has ${num(r.count, 0)} members.`),
        r.unmatched.length === 0 ? null : table(r.unmatched_count > r.unmatched.length ? `The first ${r.unmatched.length} rows that matched nobody` : 'Rows that matched nobody', [
          { label: 'Row', num: true, cell: (u) => u.row },
          { label: 'Value', cell: (u) => u.value },
          { label: 'Why', cell: (u) => u.reason },
        ], r.unmatched));
      reload();
    } catch (err) {
      progress.hidden = true;
      report.replaceChildren(failure(err, 'Import'));
    }
  });
  return form;
}

function fromSegmentForm(list, segments, reload) {
  const seg = h('select', { id: 'from-segment', name: 'segment' }, segments.map((s) => h('option', { value: s.id }, s.name)));
  const error = h('p', { class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline', id: 'add-from-segment' }, h('label', { for: 'from-segment' }, 'Add everybody in'), seg, h('button', { type: 'submit' }, 'Add'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const r = await post(`/v1/lists/${enc(list.id)}/members/from-segment`, { segment: seg.value });
      toast(`${num(r.added, 0)} added, ${num(r.already, 0)} already on the list.`);
      reload();
    } catch (err) { error.hidden = false; error.textContent = err.message; }
  });
  return form;
}

function copyForm(list, lists) {
  const same = lists.filter((l) => l.entity === list.entity && l.id !== list.id);
  const to = h('select', { id: 'copy-to', name: 'to' }, h('option', { value: '' }, 'a new list named…'), same.map((l) => h('option', { value: l.id }, l.name)));
  const name = h('input', { id: 'copy-name', name: 'name', value: `${list.name} (copy)`, maxlength: 200, 'aria-label': 'New list name' });
  to.addEventListener('change', () => { name.hidden = Boolean(to.value); });
  const error = h('p', { class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline', id: 'copy-list' }, h('label', { for: 'copy-to' }, 'Copy the members into'), to, name, h('button', { type: 'submit' }, 'Copy'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const r = await post(`/v1/lists/${enc(list.id)}/copy`, to.value ? { to: to.value } : { name: name.value.trim() });
      toast(`${num(r.added, 0)} copied into ${r.to.name}.`);
      location.hash = `#/lists/${enc(r.to.id)}`;
    } catch (err) { error.hidden = false; error.textContent = err.message; }
  });
  return form;
}

function renameForm(list) {
  const name = h('input', { id: 'rename-list', name: 'name', value: list.name, maxlength: 200, required: true });
  const error = h('p', { class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline' }, h('label', { for: 'rename-list' }, 'Name'), name, h('button', { type: 'submit', class: 'quiet' }, 'Rename'),
    h('button', { type: 'button', class: 'quiet danger', id: 'delete-list', onclick: async () => {
      if (!window.confirm(`Delete the list ${list.name}?`)) return;
      try { await del(`/v1/lists/${enc(list.id)}`); toast('Deleted.'); location.hash = '#/lists'; } catch (err) { error.hidden = false; error.textContent = err.message; }
    } }, 'Delete'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await patch(`/v1/lists/${enc(list.id)}`, { name: name.value.trim() }); toast('Renamed.'); window.dispatchEvent(new HashChangeEvent('hashchange')); } catch (err) { error.hidden = false; error.textContent = err.message; }
  });
  return form;
}

export async function listPage(id) {
  let list;
  try { list = await get(`/v1/lists/${enc(id)}`); } catch (err) {
    if (err.status === 404) return h('div', { class: 'page' }, h('h1', {}, 'Lists'), empty(`There is no list ${id}.`), h('p', {}, h('a', { href: '#/lists' }, 'All lists')));
    throw err;
  }
  const [first, { lists }, { segments }] = await Promise.all([
    get(`/v1/lists/${enc(id)}/members?limit=50`), get('/v1/lists'), get('/v1/segments')]);
  const membersBox = h('div', {}, membersTable(list, first));
  const countEl = h('span', { id: 'list-count', 'data-count': list.count }, num(list.count, 0));
  const reload = async () => {
    try {
      const [l, page] = await Promise.all([get(`/v1/lists/${enc(id)}`), get(`/v1/lists/${enc(id)}/members?limit=50`)]);
      countEl.textContent = num(l.count, 0);
      countEl.dataset.count = l.count;
      membersBox.replaceChildren(membersTable(l, page));
    } catch (err) { membersBox.replaceChildren(failure(err, 'Members')); }
  };
  const exports = h('div', { class: 'row' }, [['csv', 'CSV'], ['jsonl', 'JSON lines'], ['parquet', 'Parquet']].map(([format, label]) =>
    h('button', { type: 'button', class: 'quiet', 'data-format': format, onclick: async (e) => {
      e.target.disabled = true;
      try { const bytes = await download('GET', `/v1/lists/${enc(id)}/export?format=${format}`, undefined, `${list.name}.${format}`); toast(`Exported ${num(bytes / 1024, 1)} KiB.`); } catch (err) { toast(`Export failed: ${err.message}`); }
      e.target.disabled = false;
    } }, label)));
  return h('div', { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/lists' }, 'Lists'), ' / ', list.name),
    h('h1', {}, list.name),
    h('p', { class: 'sub' }, `A list of ${list.entity}`, list.description ? ` · ${list.description}` : '', ' · ', countEl, ' members'),
    h('div', { class: 'columns' },
      h('div', {}, section('Members', membersBox), section('Export', exports)),
      canWrite() ? h('div', {},
        section('Import a CSV file', importForm(list, reload)),
        segments.length ? section('Add from a segment', fromSegmentForm(list, segments, reload)) : null,
        section('Copy', copyForm(list, lists)),
        section('Name', renameForm(list))) : null));
}
