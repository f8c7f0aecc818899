// Campaigns: the records, a new one, a campaign's report (responses, reach, leads, customers won,
// revenue, cost per lead, ROI) with its A/B arms side by side, comparisons of several, the
// responders, and turning a response into a lead.
import { canWrite, del, get, post } from './api.js';
import { VOCABULARY } from './vocabulary.js';
import { empty, failure, h, num, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;
const lines = (t) => t.split('\n').map((s) => s.trim()).filter(Boolean);
const money = (x, currency) => (x === null || x === undefined ? '–' : `${num(x, 2)} ${currency || ''}`.trim());
const pct = (x) => (x === null || x === undefined ? '–' : `${num(x * 100, 1)} %`);

const FIGURES = (currency) => [
  ['Responses', (f) => num(f.responses, 0)],
  ['People reached', (f) => num(f.people_reached, 0)],
  ['Leads', (f) => num(f.leads, 0)],
  ['Customers won', (f) => num(f.customers_won, 0)],
  ['Revenue', (f) => money(f.revenue, currency)],
  ['Cost per lead', (f) => money(f.cost_per_lead, currency)],
  ['ROI', (f) => pct(f.roi)],
];

/// Figures side by side: one column per `{title, figures}`.
function sideBySide(caption, columns, currency, id) {
  return h('table', { id },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), columns.map((c) => h('th', { scope: 'col', class: 'num' }, c.title)))),
    h('tbody', {}, FIGURES(currency).map(([label, cell]) => h('tr', {}, h('th', { scope: 'row' }, label), columns.map((c) => h('td', { class: 'num', 'data-figure': label }, cell(c.figures)))))));
}

function createForm(lists) {
  const f = {
    name: h('input', { id: 'campaign-name', required: true, maxlength: 200 }),
    channel: h('select', { id: 'campaign-channel' }, VOCABULARY.campaign_channels.map((c) => h('option', { value: c }, c.replace('_', ' ')))),
    start: h('input', { id: 'campaign-start', type: 'date', required: true, value: new Date().toISOString().slice(0, 10) }),
    end: h('input', { id: 'campaign-end', type: 'date' }),
    utm: h('textarea', { id: 'campaign-utm', rows: 2, placeholder: 'one utm_campaign per line' }),
    promo: h('textarea', { id: 'campaign-promo', rows: 2, placeholder: 'one code per line' }),
    budget: h('input', { id: 'campaign-budget', type: 'number', min: 0, step: 'any', value: 0 }),
    cost: h('input', { id: 'campaign-cost', type: 'number', min: 0, step: 'any', value: 0 }),
    currency: h('input', { id: 'campaign-currency', value: 'EUR', maxlength: 3, size: 4 }),
    lists: h('select', { id: 'campaign-lists', multiple: true, size: Math.min(4, Math.max(2, lists.length)) }, lists.filter((l) => l.entity === 'people').map((l) => h('option', { value: l.id }, l.name))),
  };
  const error = h('p', { id: 'campaign-error', class: 'error', hidden: true, role: 'alert' });
  const row = (label, el, help) => h('div', { class: 'fldrow' }, h('label', { for: el.id }, label), el, help ? h('span', { class: 'help' }, help) : null);
  const form = h('form', { class: 'grid-form', id: 'create-campaign', novalidate: true },
    row('Name', f.name), row('Channel', f.channel), row('Starts', f.start), row('Ends', f.end, 'empty: still running'),
    row('UTM campaigns', f.utm, 'a visit or event with one of these utm_campaign values is a response'),
    row('Promo codes', f.promo, 'an order or event with one of these codes is a response'),
    row('Budget', f.budget), row('Actual cost', f.cost), row('Currency', f.currency),
    row('Target lists', f.lists, 'each list is an arm of an A/B comparison'),
    h('div', { class: 'fldrow' }, h('span', {}), h('button', { type: 'submit' }, 'Create campaign')), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    for (const el of Object.values(f)) el.removeAttribute('aria-invalid');
    const body = {
      name: f.name.value.trim(), channel: f.channel.value, start: f.start.value,
      utm_campaigns: lines(f.utm.value), promo_codes: lines(f.promo.value),
      budget: Number(f.budget.value) || 0, actual_cost: Number(f.cost.value) || 0, currency: f.currency.value.trim(),
      target_lists: [...f.lists.selectedOptions].map((o) => o.value),
    };
    if (f.end.value) body.end = f.end.value;
    try {
      const c = await post('/v1/campaigns', body);
      location.hash = `#/campaigns/${enc(c.id)}`;
    } catch (err) {
      error.hidden = false;
      error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
      const byField = { name: f.name, start: f.start, end: f.end, budget: f.budget, actual_cost: f.cost, currency: f.currency, utm_campaigns: f.utm, promo_codes: f.promo };
      byField[(err.field || '').split(/[.[]/)[0]]?.setAttribute('aria-invalid', 'true');
    }
  });
  return form;
}

export async function campaignsPage(params) {
  const [{ campaigns }, { lists }] = await Promise.all([get('/v1/campaigns'), get('/v1/lists')]);
  const sorted = [...campaigns].sort((a, b) => (b.start || '').localeCompare(a.start || ''));
  const chosen = new Set((params.get('compare') || '').split(',').filter(Boolean));
  const compareOut = h('div', { id: 'campaign-compare' });
  const compare = async () => {
    if (chosen.size < 2) { compareOut.replaceChildren(empty('Choose two or more campaigns to compare them.')); return; }
    try {
      const { campaigns: rs } = await get(`/v1/campaigns/compare?ids=${[...chosen].map(enc).join(',')}`);
      compareOut.replaceChildren(sideBySide('Side by side, each over its own dates', rs.map((r) => ({ title: r.name, figures: r.figures })), rs[0]?.currency, 'compare-table'));
    } catch (err) { compareOut.replaceChildren(failure(err, 'Compare')); }
  };
  const rows = sorted.length === 0 ? empty('No campaign yet.') : table(null, [
    { label: '', cell: (c) => { const box = h('input', { type: 'checkbox', 'aria-label': `Compare ${c.name}`, 'data-compare': c.id, checked: chosen.has(c.id) }); box.addEventListener('change', () => { if (box.checked) chosen.add(c.id); else chosen.delete(c.id); compare(); }); return box; } },
    { label: 'Campaign', cell: (c) => h('a', { href: `#/campaigns/${enc(c.id)}` }, c.name) },
    { label: 'Channel', cell: (c) => c.channel },
    { label: 'Dates', cell: (c) => `${c.start} – ${c.end || 'running'}` },
    { label: 'Budget', num: true, cell: (c) => money(c.budget, c.currency) },
    { label: 'Arms', num: true, cell: (c) => c.target_lists.length || '–' },
  ], sorted);
  compare();
  return h('div', { class: 'page' },
    h('h1', {}, 'Campaigns'),
    section('Campaigns', rows, sorted.length > 1 ? h('h3', {}, 'Compare') : null, sorted.length > 1 ? compareOut : null),
    canWrite() ? section('New campaign', createForm(lists)) : null);
}

/// The responders: the first page from the report, more on demand.
function responders(c, currency, first) {
  const box = h('div', { id: 'responders' });
  let after = null;
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'quiet' }, 'More responders');
  const waiting = h('p', { class: 'loading', role: 'status' }, 'Loading responders…');
  const load = async (given) => {
    more.disabled = true;
    try {
      const page = given || await get(`/v1/campaigns/${enc(c.id)}/responses?limit=50${after ? `&after=${enc(after)}` : ''}`);
      after = page.next_after || null;
      for (const r of page.responders) {
        const lead = canWrite() && !r.qualified_ms ? h('button', { type: 'button', class: 'quiet', 'data-lead': r.profile_id, onclick: async (e) => {
          e.target.disabled = true;
          try { await post(`/v1/campaigns/${enc(c.id)}/responses/${enc(r.profile_id)}/lead`, {}); toast(`${r.profile_id} goes to sales now.`); e.target.replaceWith(h('span', { class: 'help' }, 'sent to sales')); } catch (err) { toast(err.message); e.target.disabled = false; }
        } }, 'Make a lead') : null;
        tbody.append(h('tr', {}, h('td', {}, h('a', { href: `#/people/${enc(r.profile_id)}` }, r.profile_id)), h('td', { class: 'num' }, num(r.responses, 0)),
          h('td', {}, when(r.first_response_ms)), h('td', {}, r.qualified_ms ? when(r.qualified_ms) : '–'), h('td', {}, r.won_ms ? when(r.won_ms) : '–'), h('td', { class: 'num' }, money(r.revenue, currency)), h('td', {}, lead)));
      }
      if (page.count === 0) box.replaceChildren(empty('No response yet.'));
      more.hidden = !after;
    } catch (err) { box.append(failure(err, 'Responders')); }
    waiting.remove();
    more.disabled = false;
  };
  more.addEventListener('click', () => load());
  box.append(waiting, h('table', {}, h('thead', {}, h('tr', {}, ['Person', 'Responses', 'First response', 'Lead', 'Won', 'Revenue', ''].map((x, i) => h('th', { scope: 'col', class: i === 1 || i === 5 ? 'num' : null }, x)))), tbody), more);
  load(first);
  return box;
}

export async function campaignPage(id) {
  let c;
  try { c = await get(`/v1/campaigns/${enc(id)}`); } catch (err) {
    if (err.status === 404) return h('div', { class: 'page' }, h('h1', {}, 'Campaigns'), empty(`There is no campaign ${id}.`));
    throw err;
  }
  const r = await get(`/v1/campaigns/${enc(id)}/report?responders=50`);
  const arms = [{ title: 'Whole campaign', figures: r.figures }, ...r.arms.map((a) => ({ title: `${a.list_name} (${num(a.targeted, 0)} targeted, ${pct(a.response_rate)} responded)`, figures: a.figures }))];
  if (r.untargeted) arms.push({ title: 'On no target list', figures: r.untargeted });
  return h('div', { class: 'page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/campaigns' }, 'Campaigns'), ' / ', c.name),
    h('div', { class: 'titlebar' }, h('h1', {}, c.name),
      canWrite() ? h('button', { type: 'button', class: 'quiet danger', id: 'delete-campaign', onclick: async () => {
        if (!window.confirm(`Delete the campaign ${c.name}?`)) return;
        try { await del(`/v1/campaigns/${enc(id)}`); location.hash = '#/campaigns'; } catch (err) { toast(err.message); }
      } }, 'Delete') : null),
    h('p', { class: 'sub' }, `${c.channel} · ${c.start} – ${c.end || 'running'} · budget ${money(c.budget, c.currency)}, spent ${money(c.actual_cost, c.currency)}`,
      c.utm_campaigns.length ? ` · utm_campaign ${c.utm_campaigns.join(', ')}` : '', c.promo_codes.length ? ` · codes ${c.promo_codes.join(', ')}` : ''),
    h('dl', { class: 'facts', id: 'campaign-facts' },
      h('div', {}, h('dt', {}, 'Responses'), h('dd', { 'data-responses': r.figures.responses }, num(r.figures.responses, 0))),
      h('div', {}, h('dt', {}, 'Reached'), h('dd', {}, num(r.figures.people_reached, 0))),
      h('div', {}, h('dt', {}, 'Leads'), h('dd', { 'data-leads': r.figures.leads }, num(r.figures.leads, 0))),
      h('div', {}, h('dt', {}, 'Won'), h('dd', {}, num(r.figures.customers_won, 0))),
      h('div', {}, h('dt', {}, 'Revenue'), h('dd', {}, money(r.figures.revenue, r.currency))),
      h('div', {}, h('dt', {}, 'Cost per lead'), h('dd', {}, money(r.figures.cost_per_lead, r.currency))),
      h('div', {}, h('dt', {}, 'ROI'), h('dd', {}, pct(r.figures.roi)))),
    section(r.arms.length ? 'A/B arms side by side' : 'Figures', sideBySide(`As of ${when(r.as_of_ms)}`, arms, r.currency, 'arms-table')),
    section('Responders', responders(c, r.currency, r.responders)));
}
