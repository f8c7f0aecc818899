// The scoring model and what-if: the live model, an editor for a changed one (checked as you
// type, the error shown on its line), and a what-if run of the changed model over the stored
// history: would-be hand-offs over time beside the live ones, the biggest score differences.
import { get, post } from './api.js';
import { dayChart } from './charts.js';
import { STAGES, empty, failure, h, loading, num, section, signed, table, when } from './ui.js';

const enc = encodeURIComponent;

/// The line an API error names (`model (line 12)`), if any.
export function errorLine(err) {
  const m = /line (\d+)/.exec(err.field || '');
  return m ? Number(m[1]) : null;
}

function editor(text, onInput) {
  const area = h('textarea', { id: 'model-text', class: 'code', spellcheck: 'false', rows: 28, wrap: 'off', 'aria-describedby': 'model-status', 'aria-label': 'The changed model (TOML)' }, text);
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const lineError = h('p', { class: 'line-error error', id: 'model-line-error', hidden: true, role: 'alert' });
  const numbers = (bad) => {
    const n = area.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h('span', { class: i + 1 === bad ? 'bad' : null, 'data-line': i + 1 }, `${i + 1}\n`)));
  };
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener('input', () => { numbers(null); onInput(); });
  numbers(null);
  return {
    area,
    el: h('div', { class: 'editor' }, h('div', { class: 'code-box' }, gutter, area), lineError),
    showError(line, message) {
      numbers(line);
      area.setAttribute('aria-invalid', 'true');
      lineError.hidden = false;
      lineError.dataset.line = line ?? '';
      lineError.textContent = line ? `Line ${line}: ${message}` : message;
      if (line) {
        const lh = parseFloat(getComputedStyle(area).lineHeight) || 18;
        const top = (line - 1) * lh;
        if (top < area.scrollTop || top > area.scrollTop + area.clientHeight - lh) area.scrollTop = Math.max(0, top - area.clientHeight / 3);
      }
    },
    clearError() { numbers(null); area.removeAttribute('aria-invalid'); lineError.hidden = true; lineError.dataset.line = ''; },
  };
}

function report(r) {
  const q = r.qualified;
  const facts = h('dl', { class: 'facts', id: 'whatif-facts' },
    h('div', {}, h('dt', {}, 'Events replayed'), h('dd', {}, num(r.events, 0))),
    h('div', {}, h('dt', {}, 'People'), h('dd', {}, num(r.people, 0))),
    h('div', {}, h('dt', {}, 'Leads, what-if'), h('dd', { 'data-whatif': q.what_if }, num(q.what_if, 0))),
    h('div', {}, h('dt', {}, 'Leads, live'), h('dd', { 'data-live': q.live }, num(q.live, 0))),
    h('div', {}, h('dt', {}, 'Newly qualified'), h('dd', {}, num(q.newly, 0))),
    h('div', {}, h('dt', {}, 'No longer'), h('dd', {}, num(q.no_longer, 0))),
    h('div', {}, h('dt', {}, 'Mean score change'), h('dd', {}, signed(r.scores.mean_delta))));
  const lead = (l) => h('a', { href: `#/people/${enc(l.profile_id)}` }, l.profile_id);
  return h('div', { id: 'whatif-report' },
    h('p', { class: 'help' }, `Model ${r.model.slice(0, 12)}…: ${r.score_name} ≥ ${num(r.threshold)} qualifies; history ${r.from_ms <= 0 ? 'from the first event' : `from ${when(r.from_ms)}`} to ${r.to_ms > 8e15 ? 'now' : when(r.to_ms)}.`),
    facts,
    section('Hand-offs over time', dayChart('First hand-offs per day, what-if beside live', [
      { label: 'What-if', values: r.qualified_by_day },
      { label: 'Live', values: r.live_qualified_by_day || {} },
    ], { kind: 'bars', id: 'whatif-chart' })),
    section('Biggest score differences', r.biggest_changes.length === 0 ? empty('No score would change.') : table(null, [
      { label: 'Person', cell: lead },
      { label: 'Live', num: true, cell: (l) => num(l.live_score) },
      { label: 'What-if', num: true, cell: (l) => num(l.score) },
      { label: 'Difference', num: true, cell: (l) => signed(l.delta) },
      { label: 'Stage live → what-if', cell: (l) => `${STAGES[l.live_stage] || l.live_stage} → ${STAGES[l.stage] || l.stage}` },
    ], r.biggest_changes)),
    section('Leads either model hands over', r.leads.length === 0 ? empty('Neither model hands anybody over.') : table('Earliest what-if hand-off first', [
      { label: 'Person', cell: lead },
      { label: 'What-if hand-off', cell: (l) => when(l.first_qualified_ms) || '–' },
      { label: 'Live hand-off', cell: (l) => when(l.live_first_qualified_ms) || '–' },
      { label: 'What-if', num: true, cell: (l) => num(l.score) },
      { label: 'Live', num: true, cell: (l) => num(l.live_score) },
    ], r.leads)));
}

export async function modelPage() {
  const live = await get('/v1/models/live');
  const status = h('p', { id: 'model-status', class: 'help', 'aria-live': 'polite' }, 'The changed model starts as the live one.');
  let timer = null;
  let asked = 0;
  const ed = editor(live.text, () => { clearTimeout(timer); timer = setTimeout(check, 400); });
  async function check() {
    const mine = ++asked;
    try {
      const m = await post('/v1/models/check', { model: ed.area.value });
      if (mine !== asked) return true;
      ed.clearError();
      status.textContent = m.digest === live.digest ? 'Valid: the same as the live model.'
        : `Valid: ${m.scores.length} scores, ${m.rules} rules, ${m.fit_rules} fit rules; ${m.score_name} ≥ ${num(m.threshold)} qualifies.`;
      return true;
    } catch (err) {
      if (mine !== asked) return false;
      if (err.status === 400 && (err.field || '').startsWith('model')) {
        ed.showError(errorLine(err), err.message);
        status.textContent = 'The changed model has an error.';
      } else {
        status.replaceChildren(failure(err, 'Check'));
      }
      return false;
    }
  }
  const from = h('input', { id: 'whatif-from', type: 'date' });
  const to = h('input', { id: 'whatif-to', type: 'date' });
  const top = h('input', { id: 'whatif-top', type: 'number', min: 1, max: 1000, value: 50 });
  const out = h('div', { id: 'whatif-out' });
  const run = h('button', { type: 'submit', id: 'run-whatif' }, 'Run what-if');
  const form = h('form', { class: 'inline', id: 'whatif-form', novalidate: true },
    h('label', { for: 'whatif-from' }, 'History from'), from, h('label', { for: 'whatif-to' }, 'to'), to,
    h('label', { for: 'whatif-top' }, 'People listed'), top, run,
    h('button', { type: 'button', class: 'quiet', onclick: () => { ed.area.value = live.text; ed.clearError(); check(); } }, 'Back to the live model'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!(await check())) return;
    run.disabled = true;
    out.replaceChildren(loading('the what-if run (the whole stored history is re-scored)'));
    const body = { model: ed.area.value, top: Number(top.value) || 50 };
    if (from.value) body.from_ms = Date.parse(`${from.value}T00:00:00Z`);
    if (to.value) body.to_ms = Date.parse(`${to.value}T00:00:00Z`) + 86_400_000;
    try {
      out.replaceChildren(report(await post('/v1/models/what-if', body)));
    } catch (err) {
      if (err.status === 400 && (err.field || '').startsWith('model')) ed.showError(errorLine(err), err.message);
      out.replaceChildren(failure(err, 'What-if'));
    }
    run.disabled = false;
  });
  return h('div', { class: 'page' },
    h('h1', {}, 'Scoring model'),
    h('dl', { class: 'facts', id: 'live-model' },
      h('div', {}, h('dt', {}, 'Live model'), h('dd', {}, live.source === 'default' ? 'as shipped' : live.path)),
      h('div', {}, h('dt', {}, 'Digest'), h('dd', { title: live.digest }, live.digest.slice(0, 12))),
      h('div', {}, h('dt', {}, 'Qualifies'), h('dd', {}, `${live.score_name} ≥ ${num(live.threshold)}`)),
      h('div', {}, h('dt', {}, 'Rules'), h('dd', {}, `${live.rules} + ${live.fit_rules} fit`))),
    section('A changed model', h('p', { class: 'help' }, 'Edit a copy of the live model; it is checked as you type. Nothing live changes: the scorers run the file named in scorer.model. A what-if run re-scores the stored history with the copy.'),
      ed.el, status, form),
    out);
}
