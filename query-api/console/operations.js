// Operations: CRM webhook calls that were parked (and sending one again), and the workspace's
// API tokens (issuing read-only or read-write ones, revoking). Changes need a read-write token.
import { canWrite, del, get, post } from './api.js';
import { empty, failure, h, loading, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;
const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));

async function deliveries(status) {
  let list;
  const filter = h('select', { id: 'delivery-status', 'aria-label': 'Which deliveries' },
    [['parked', 'Parked (the CRM kept refusing)'], ['delivered', 'Delivered after being parked'], ['', 'All']].map(([v, l]) => h('option', { value: v, selected: v === status }, l)));
  filter.addEventListener('change', () => { location.hash = `#/operations?deliveries=${enc(filter.value || 'all')}`; });
  const title = 'CRM webhook deliveries';
  try {
    list = (await get(`/v1/webhooks/deliveries?limit=100${status ? `&status=${enc(status)}` : ''}`)).deliveries;
  } catch (err) {
    return section(title, filter, failure(err, 'Deliveries'));
  }
  if (list.length === 0) return section(title, h('div', { class: 'row' }, filter), empty(status === 'parked' ? 'No parked call: every hand-off reached the CRM.' : 'None.'));
  return section(title, h('div', { class: 'row' }, filter), table('Newest first', [
    { label: 'Since', cell: (d) => when(d.created_ms) },
    { label: 'Webhook', cell: (d) => d.webhook },
    { label: 'What', cell: (d) => d.kind },
    { label: 'Person', cell: (d) => h('a', { href: `#/people/${enc(d.profile_id)}` }, d.profile_id) },
    { label: 'State', cell: (d) => d.status },
    { label: 'Tries', num: true, cell: (d) => d.attempts },
    { label: 'Last error', cell: (d) => d.last_error },
    {
      label: '', cell: (d) => canWrite() && d.status === 'parked' ? h('button', {
        type: 'button', class: 'quiet', 'data-replay': d.id,
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await post(`/v1/webhooks/deliveries/${enc(d.id)}/replay`, {});
            toast('Delivered.');
            reload();
          } catch (err) {
            toast(`Still refused: ${err.message}`);
            e.target.disabled = false;
          }
        },
      }, 'Send again') : null,
    },
  ], list));
}

/// What the collector refused: newest first, with the reason and the payload; replayed through
/// intake (as it is now) one by one or all pending at once.
async function failedEvents() {
  const title = 'Events the collector refused';
  let page;
  try {
    page = await get('/v1/failed-events?pending=true&limit=50');
  } catch (err) {
    return section(title, failure(err, 'Failed events'));
  }
  if (page.count === 0) return section(title, empty('Nothing waiting: no refused event has gone without a successful replay.'));
  const replay = async (body, button) => {
    button.disabled = true;
    try {
      const r = await post('/v1/failed-events/replay', body);
      toast(`${r.accepted} accepted, ${r.duplicate} already there, ${r.refused} refused again.`);
      reload();
    } catch (err) { toast(err.message); button.disabled = false; }
  };
  const all = canWrite() ? h('button', { type: 'button', id: 'replay-failed', onclick: (e) => replay({}, e.target) }, `Replay all ${page.count} pending`) : null;
  return section(title,
    h('p', { class: 'help' }, 'Kept as they arrived, so a fix in the tracking plan or the client can be tried on them: a replay goes through intake as it is now and keeps each messageId (nothing is written twice).'),
    all ? h('div', { class: 'row' }, all) : null,
    table(`${page.count} pending, newest first`, [
      { label: 'Received', cell: (f) => when(f.received_at_ms) },
      { label: 'Endpoint', cell: (f) => f.endpoint },
      { label: 'Event', cell: (f) => f.event_name || '–' },
      { label: 'Why', cell: (f) => [h('code', {}, f.code), ' ', f.field ? `${f.field}: ` : '', f.problem] },
      { label: 'Payload', cell: (f) => h('details', {}, h('summary', {}, 'show'), h('pre', { class: 'payload' }, f.payload)) },
      { label: '', cell: (f) => canWrite() ? h('button', { type: 'button', class: 'quiet', 'data-replay-failed': f.id, onclick: (e) => replay({ ids: [f.id] }, e.target) }, 'Replay') : null },
    ], page.failed_events));
}

async function settings() {
  let w;
  try { w = await get('/v1/workspace'); } catch (err) { return section('Workspace', failure(err, 'Settings')); }
  const yes = (b) => (b ? 'set' : 'not set');
  return section('Workspace',
    h('dl', { class: 'traits', id: 'workspace-settings' },
      h('div', {}, h('dt', {}, 'Workspace'), h('dd', {}, w.workspace)),
      h('div', {}, h('dt', {}, 'Your access'), h('dd', {}, w.scope)),
      h('div', {}, h('dt', {}, 'Site'), h('dd', {}, w.site_host || 'none declared')),
      h('div', {}, h('dt', {}, 'Link domains'), h('dd', {}, w.link_domains.length ? w.link_domains.join(', ') : 'none')),
      h('div', {}, h('dt', {}, 'Email webhook secret'), h('dd', {}, yes(w.email_webhook_secret))),
      h('div', {}, h('dt', {}, 'SMS webhook secret'), h('dd', {}, yes(w.sms_webhook_secret))),
      h('div', {}, h('dt', {}, 'CRM webhooks'), h('dd', {}, w.crm_webhooks.length ? w.crm_webhooks.map((c) => `${c.name} → ${c.url} (${c.max_attempts} tries)`).join('; ') : 'none')),
      h('div', {}, h('dt', {}, 'Scoring model'), h('dd', {}, w.model_source === 'file' ? 'from scorer.model' : 'as shipped')),
      h('div', {}, h('dt', {}, 'Segment limits'), h('dd', {}, `${w.segment_max_nodes} conditions, ${w.segment_max_traits} traits`))),
    h('p', { class: 'help' }, 'Set in the config file (leadstream.toml); secrets are never shown here.'));
}

function issueForm(onIssued) {
  const name = h('input', { id: 'token-name', name: 'name', required: true, maxlength: 64, 'aria-describedby': 'token-form-error' });
  const scope = h('select', { id: 'token-scope', name: 'scope' },
    h('option', { value: 'read' }, 'Read-only'), h('option', { value: 'read_write' }, 'Read-write'));
  const days = h('input', { id: 'token-days', name: 'expires_in_days', type: 'number', min: '1', max: '3650', placeholder: 'never' });
  const error = h('p', { id: 'token-form-error', class: 'error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'inline', id: 'issue-token', novalidate: true },
    h('label', { for: 'token-name' }, 'Name'), name,
    h('label', { for: 'token-scope' }, 'Access'), scope,
    h('label', { for: 'token-days' }, 'Expires in days'), days,
    h('button', { type: 'submit' }, 'Issue token'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    name.removeAttribute('aria-invalid');
    days.removeAttribute('aria-invalid');
    const body = { name: name.value.trim(), scope: scope.value };
    if (days.value) body.expires_in_days = Number(days.value);
    try {
      const issued = await post('/v1/tokens', body);
      onIssued(issued);
    } catch (err) {
      error.hidden = false;
      error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
      (err.field === 'expires_in_days' ? days : name).setAttribute('aria-invalid', 'true');
    }
  });
  return form;
}

async function tokens() {
  if (!canWrite()) {
    return section('API tokens', empty('Tokens are managed with a read-write token.'));
  }
  const box = h('div', {});
  const shown = h('div', { id: 'issued' });
  const render = async () => {
    box.replaceChildren(loading('tokens'));
    let list;
    try {
      list = (await get('/v1/tokens')).tokens;
    } catch (err) {
      box.replaceChildren(failure(err, 'Tokens'));
      return;
    }
    box.replaceChildren(list.length === 0 ? empty('No issued token (tokens in the config are not listed).') : table(null, [
      { label: 'Name', cell: (t) => t.name },
      { label: 'Access', cell: (t) => (t.scope === 'read' ? 'read-only' : 'read-write') },
      { label: 'Ends in', cell: (t) => `…${t.hint}` },
      { label: 'Issued', cell: (t) => when(t.created_ms) },
      { label: 'Expires', cell: (t) => (t.expires_ms ? when(t.expires_ms) : 'never') },
      {
        label: '', cell: (t) => h('button', {
          type: 'button', class: 'quiet', 'data-revoke': t.id,
          onclick: async () => {
            if (!window.confirm(`Revoke ${t.name}? Whoever uses it is refused at once.`)) return;
            try { await del(`/v1/tokens/${enc(t.id)}`); toast(`${t.name} revoked.`); render(); } catch (err) { toast(err.message); }
          },
        }, 'Revoke'),
      },
    ], list));
  };
  await render();
  const form = issueForm((issued) => {
    shown.replaceChildren(h('div', { class: 'note', role: 'status' },
      h('p', {}, h('strong', {}, `${issued.name}: `), 'copy it now, it is not shown again.'),
      h('code', { class: 'secret', id: 'new-token' }, issued.token)));
    render();
  });
  return section('API tokens', form, shown, box);
}

export async function operationsPage(params) {
  const which = params?.get('deliveries') || 'parked';
  const [d, f, t, w] = await Promise.all([deliveries(which === 'all' ? '' : which), failedEvents(), tokens(), settings()]);
  return h('div', { class: 'page' }, h('h1', {}, 'Operations'), d, f, t, w);
}
