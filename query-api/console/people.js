// People: search by email or id, and a person's page (traits, scores and why, stage history,
// timeline, lists and segments, hand-offs; recycling and won deals for read-write tokens).
import { canWrite, get, post } from './api.js';
import { STAGES, empty, failure, h, loading, num, section, signed, stepChart, table, toast, when } from './ui.js';

const enc = encodeURIComponent;

export async function peoplePage(params) {
  const q = params.get('q') || '';
  const input = h('input', { id: 'q', name: 'q', type: 'search', value: q, required: true, 'aria-describedby': 'q-help', autocomplete: 'off' });
  const form = h('form', { class: 'search', role: 'search' },
    h('label', { for: 'q' }, 'Email or id'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Find')),
    h('p', { id: 'q-help', class: 'help' }, 'An email address finds everybody with it; anything else opens that id (an anonymous id opens the person it was merged into).'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (!v) return;
    location.hash = v.includes('@') ? `#/people?q=${enc(v)}` : `#/people/${enc(v)}`;
  });
  const results = h('div', { id: 'results' });
  const page = h('div', { class: 'page' }, h('h1', {}, 'People'), form, results);
  if (q) {
    results.append(loading('people'));
    try {
      const found = await get(`/v1/profiles?email=${enc(q)}`);
      results.replaceChildren(found.profiles.length === 0
        ? empty(`Nobody has the email ${q}.`)
        : table(`People with the email ${q}`, [
          { label: 'Person', cell: (p) => h('a', { href: `#/people/${enc(p.profile_id)}` }, p.profile_id) },
          { label: 'Stage', cell: (p) => STAGES[p.lifecycle_stage] || p.lifecycle_stage },
          { label: 'Grade', cell: (p) => p.grade || '–' },
          { label: 'Score', num: true, cell: (p) => num(p.score) },
          { label: 'Last seen', cell: (p) => when(p.last_seen_ms) },
        ], found.profiles));
    } catch (err) {
      results.replaceChildren(failure(err, 'Search'));
    }
  }
  return page;
}

function header(p) {
  const scores = Object.entries(p.scores || {});
  return h('header', { class: 'person' },
    h('h1', {}, p.traits?.name || p.traits?.email || p.profile_id),
    h('p', { class: 'sub' }, p.profile_id, p.traits?.email && p.traits.email !== p.profile_id ? ` · ${p.traits.email}` : ''),
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', {}, 'Stage'), h('dd', { id: 'stage' }, STAGES[p.lifecycle_stage] || p.lifecycle_stage)),
      h('div', {}, h('dt', {}, 'Grade'), h('dd', { id: 'grade' }, p.grade || '–')),
      scores.map(([name, v]) => h('div', {}, h('dt', {}, name.replace(/_/g, ' ')), h('dd', { class: 'score', 'data-score': name }, num(v)))),
      h('div', {}, h('dt', {}, 'Events'), h('dd', {}, num(p.event_count, 0))),
      h('div', {}, h('dt', {}, 'Last seen'), h('dd', {}, when(p.last_seen_ms)))));
}

function traits(p) {
  const rows = Object.entries(p.traits || {});
  return section('Traits', rows.length === 0 ? empty('No traits yet.')
    : h('dl', { class: 'traits' }, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))))));
}

/// One score's changes in the order they happened: by time, and within one instant (the events
/// of one batch) each change starting where the one before ended.
function chained(changes) {
  const byTime = [...changes].sort((a, b) => a.at_ms - b.at_ms);
  const out = [];
  let last = 0;
  for (let i = 0; i < byTime.length;) {
    let j = i;
    while (j < byTime.length && byTime[j].at_ms === byTime[i].at_ms) j++;
    const group = byTime.slice(i, j);
    while (group.length) {
      const k = Math.max(0, group.findIndex((c) => Math.abs(c.before - last) < 1e-9));
      const [c] = group.splice(k, 1);
      out.push(c);
      last = c.after;
    }
    i = j;
  }
  return out;
}

/// Every score's changes, oldest first.
function inOrder(changes) {
  const scores = {};
  for (const c of changes) (scores[c.score] ||= []).push(c);
  const lists = Object.values(scores).map(chained);
  const out = [];
  while (lists.some((l) => l.length)) {
    let best = null;
    for (const l of lists) if (l.length && (!best || l[0].at_ms < best[0].at_ms)) best = l;
    out.push(best.shift());
  }
  return out;
}

function scoreHistory(p, history, why) {
  const changes = inOrder(history.changes);
  const byScore = {};
  for (const [i, c] of changes.entries()) {
    (byScore[c.score] ||= []).push({ t: c.at_ms, i, v: c.after, title: `${when(c.at_ms)}: ${c.score} ${num(c.before)} → ${num(c.after)} (${signed(c.points)}, ${c.rule}, ${c.event || c.kind})` });
  }
  const series = Object.entries(byScore).map(([name, points]) => ({ name, points }));
  return section('Score history',
    why ? h('p', { class: 'why', id: 'why' },
      `${why.score} is ${num(why.value)}: `,
      why.by_rule.length === 0 ? 'no rule has given points yet.' :
        why.by_rule.map((r, i) => [i ? ', ' : '', h('strong', {}, r.rule), ` ${signed(r.points)}${r.times > 1 ? ` (${r.times} times)` : ''}`]),
      '.')
      : h('p', { class: 'why empty', id: 'why' }, 'No score of the model yet: no rule has scored this person.'),
    stepChart(series, `Score history of ${p.profile_id}`),
    changes.length === 0 ? null : table('Each change, newest first, with the rule and the event that made it', [
      { label: 'When', cell: (c) => when(c.at_ms) },
      { label: 'Score', cell: (c) => c.score },
      { label: 'Rule', cell: (c) => c.rule },
      { label: 'Event', cell: (c) => c.event || c.kind },
      { label: 'Points', num: true, cell: (c) => signed(c.points) },
      { label: 'After', num: true, cell: (c) => num(c.after) },
    ], [...changes].reverse()));
}

function stages(p) {
  const rows = [...(p.stage_history || [])].reverse();
  return section('Lifecycle', rows.length === 0 ? empty('Still at the first stage.')
    : table(null, [
      { label: 'When', cell: (r) => when(r.at_ms) },
      { label: 'Stage', cell: (r) => STAGES[r.stage] || r.stage },
    ], rows));
}

function timeline(p, first) {
  const body = h('div', {});
  const more = h('button', { type: 'button', class: 'quiet' }, 'Older events');
  const list = h('ol', { class: 'timeline' });
  let next = first.next;
  const add = (events) => {
    for (const e of events) {
      list.append(h('li', {},
        h('time', { datetime: e.timestamp }, when(e.timestamp_ms)),
        h('span', { class: 'kind' }, e.kind.replace(/_/g, ' ')),
        h('span', { class: 'name' }, e.event || e.type),
        e.via ? h('span', { class: 'via', title: 'recorded under an id merged into this person' }, `as ${e.via}`) : null));
    }
    more.hidden = !next;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await get(`/v1/profiles/${enc(p.profile_id)}/timeline?limit=25&before=${enc(next)}`);
      next = page.next;
      add(page.events);
    } catch (err) {
      body.append(failure(err, 'Older events'));
    }
    more.disabled = false;
  });
  add(first.events);
  body.append(first.events.length === 0 ? empty('No events.') : list, more);
  return section('Timeline', body);
}

function memberships(m) {
  const item = (kind) => (x) => h('li', {}, `${kind} `, h('strong', {}, x.name));
  const items = [...m.lists.map(item('List')), ...m.segments.map(item('Segment'))];
  return section('Lists and segments', items.length === 0 ? empty('In no list or saved segment.') : h('ul', { class: 'plain' }, items));
}

function handoffs(hs) {
  return section('Hand-offs to sales', hs.handoffs.length === 0 ? empty('Not handed to sales yet.')
    : table(null, [
      { label: 'Crossing', num: true, cell: (x) => x.crossing },
      { label: 'Qualified', cell: (x) => when(x.qualified_at_ms) },
      { label: 'Score', num: true, cell: (x) => `${num(x.score)} of ${num(x.threshold)}` },
      { label: 'Grade', cell: (x) => x.grade || '–' },
    ], hs.handoffs));
}

function actions(p) {
  if (!canWrite()) return null;
  const box = h('div', { class: 'actions' });
  const withSales = p.lifecycle_stage === 'mql' || p.lifecycle_stage === 'sales_accepted';
  const done = (text) => { toast(text); setTimeout(() => window.dispatchEvent(new HashChangeEvent('hashchange')), 1500); };
  if (withSales) {
    const reason = h('input', { id: 'recycle-reason', name: 'reason', required: true, value: 'no_response', 'aria-describedby': 'recycle-error' });
    const error = h('p', { id: 'recycle-error', class: 'error', hidden: true });
    const form = h('form', { class: 'inline' }, h('label', { for: 'recycle-reason' }, 'Reason'), reason,
      h('button', { type: 'submit', id: 'recycle' }, 'Recycle to marketing'), error);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await post(`/v1/profiles/${enc(p.profile_id)}/recycle`, { reason: reason.value.trim() });
        done('Recycled: the scorer applies it in a moment.');
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
        reason.setAttribute('aria-invalid', 'true');
      }
    });
    box.append(form);
  }
  const amount = h('input', { id: 'won-amount', name: 'amount', type: 'number', min: '0', step: 'any', 'aria-describedby': 'won-error' });
  const currency = h('input', { id: 'won-currency', name: 'currency', value: 'USD', size: 4, maxlength: 3 });
  const error = h('p', { id: 'won-error', class: 'error', hidden: true });
  const won = h('form', { class: 'inline' }, h('label', { for: 'won-amount' }, 'Deal amount'), amount,
    h('label', { for: 'won-currency' }, 'Currency'), currency, h('button', { type: 'submit', id: 'won' }, 'Mark won'), error);
  won.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = amount.value ? { amount: Number(amount.value), currency: currency.value.trim() } : {};
    try {
      await post(`/v1/profiles/${enc(p.profile_id)}/won`, body);
      done('Marked won: the scorer applies it in a moment.');
    } catch (err) {
      error.hidden = false;
      error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    }
  });
  box.append(won);
  return section('Actions', box);
}

export async function personPage(id) {
  let p;
  try {
    p = await get(`/v1/profiles/${enc(id)}`);
  } catch (err) {
    if (err.status === 404) {
      return h('div', { class: 'page' }, h('h1', {}, 'People'), empty(`Nobody is known as ${id}.`), h('p', {}, h('a', { href: '#/people' }, 'Search again')));
    }
    throw err;
  }
  const pid = enc(p.profile_id);
  const [history, why, tl, member, hs] = await Promise.all([
    get(`/v1/profiles/${pid}/scores/history?limit=200`),
    // The qualifying score's reasons (a profile the model never scored has none to ask for).
    p.score_name || Object.keys(p.scores || {}).length
      ? get(`/v1/profiles/${pid}/scores/why${p.score_name ? '' : `?score=${enc(Object.keys(p.scores)[0])}`}`)
      : null,
    get(`/v1/profiles/${pid}/timeline?limit=25`),
    get(`/v1/profiles/${pid}/memberships`),
    get(`/v1/profiles/${pid}/handoffs`),
  ]);
  return h('div', { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/people' }, 'People'), ' / ', p.profile_id),
    p.profile_id !== id ? h('p', { class: 'note' }, `${id} was merged into ${p.profile_id}.`) : null,
    header(p),
    actions(p),
    h('div', { class: 'columns' },
      h('div', {}, scoreHistory(p, history, why), timeline(p, tl)),
      h('div', {}, traits(p), stages(p), handoffs(hs), memberships(member))));
}
