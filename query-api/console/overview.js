// Overview: the workspace at a glance over a time range: events per day and channel, new
// people and leads handed to sales per day, the score distribution and grade mix now, and the
// top campaigns by responses.
import { get } from './api.js';
import { dayChart, histogram } from './charts.js';
import { STAGES, empty, h, num, section, table } from './ui.js';

const enc = encodeURIComponent;
const DAY = 86_400_000;
const day = (ms) => new Date(ms).toISOString().slice(0, 10);

function byDay(days, values) {
  const out = {};
  days.forEach((d, i) => { out[d] = values[i]; });
  return out;
}

function topCampaigns(o) {
  if (o.top_campaigns.length === 0) return empty('No campaign response in this range.');
  return table('Responses in the range (events with a campaign\'s UTM campaign or promo code)', [
    { label: 'Campaign', cell: (c) => h('a', { href: `#/campaigns/${enc(c.campaign_id)}` }, c.name) },
    { label: 'Channel', cell: (c) => c.channel },
    { label: 'Responses', num: true, cell: (c) => h('span', { 'data-responses': c.responses }, num(c.responses, 0)) },
  ], o.top_campaigns);
}

export async function overviewPage(params) {
  const to = params.get('to') || '';
  const from = params.get('from') || '';
  const query = new URLSearchParams();
  if (from) query.set('from', from);
  if (to) query.set('to', to);
  const o = await get(`/v1/overview${query.toString() ? `?${query}` : ''}`);

  const fromInput = h('input', { id: 'overview-from', type: 'date', value: day(o.from_ms) });
  const toInput = h('input', { id: 'overview-to', type: 'date', value: day(o.to_ms - 1) });
  const preset = h('select', { id: 'overview-preset', 'aria-label': 'Range' },
    h('option', { value: '' }, 'Custom'),
    [7, 30, 90, 365].map((n) => h('option', { value: n, selected: !from && !to && n === 30 }, `Last ${n} days`)));
  preset.addEventListener('change', () => {
    if (!preset.value) return;
    const end = Date.now();
    fromInput.value = day(end - Number(preset.value) * DAY + DAY);
    toInput.value = day(end);
  });
  const form = h('form', { class: 'inline', id: 'overview-range' }, h('label', { for: 'overview-preset' }, 'Range'), preset,
    h('label', { for: 'overview-from' }, 'From'), fromInput, h('label', { for: 'overview-to' }, 'to'), toInput, h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // `to` is the end of the day chosen: the next midnight.
    const next = day(Date.parse(`${toInput.value}T00:00:00Z`) + DAY);
    location.hash = `#/overview?from=${enc(fromInput.value)}&to=${enc(next)}`;
  });

  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const facts = h('dl', { class: 'facts', id: 'overview-facts' },
    h('div', {}, h('dt', {}, 'Events'), h('dd', { 'data-events': o.events }, num(o.events, 0))),
    h('div', {}, h('dt', {}, 'New people'), h('dd', { 'data-new': sum(o.new_people) }, num(sum(o.new_people), 0))),
    h('div', {}, h('dt', {}, 'Leads to sales'), h('dd', { 'data-handoffs': sum(o.handoffs) }, num(sum(o.handoffs), 0))),
    h('div', {}, h('dt', {}, 'People now'), h('dd', { 'data-people': o.people }, num(o.people, 0))));

  const channels = Object.entries(o.events_by_channel).sort((a, b) => sum(b[1]) - sum(a[1]));
  const campaigns = h('div', { id: 'top-campaigns' }, topCampaigns(o));
  const grades = Object.entries(o.grades).map(([label, count]) => ({ label: label === 'none' ? 'no grade' : label, count }));
  return h('div', { class: 'page' },
    h('h1', {}, 'Overview'),
    form, facts,
    section('Events per day and channel', o.events === 0 ? empty('No event in this range.')
      : dayChart('Events per day, one line per channel', channels.map(([name, values]) => ({ label: name, values: byDay(o.days, values) })), { id: 'events-chart' })),
    section('New people and leads handed to sales', dayChart('New people and hand-offs per day', [
      { label: 'New people', values: byDay(o.days, o.new_people) },
      { label: 'Leads to sales', values: byDay(o.days, o.handoffs) },
    ], { kind: 'bars', id: 'people-chart' })),
    h('div', { class: 'columns even' },
      section('Scores now', histogram('People per score', o.score_histogram.map((b) => ({ label: b.label, count: b.people })), { id: 'score-histogram' })),
      section('Grade mix now', histogram('People per fit grade', grades, { id: 'grade-mix' }))),
    h('div', { class: 'columns even' },
      section('Lifecycle stages now', table(null, [
        { label: 'Stage', cell: ([s]) => STAGES[s] || s },
        { label: 'People', num: true, cell: ([, n]) => num(n, 0) },
      ], Object.entries(o.stages))),
      section('Top campaigns', campaigns)));
}
