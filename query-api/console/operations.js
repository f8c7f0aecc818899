// Operations: CRM webhook calls that were parked (and sending one again), and the workspace's
// API tokens (issuing read-only or read-write ones, revoking). Changes need a read-write token.
import { canWrite, del, get, post } from './api.js';
import { empty, failure, h, loading, section, table, toast, when } from './ui.js';

const enc = encodeURIComponent;
const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));

async function deliveries() {
  let list;
  try {
    list = (await get('/v1/webhooks/deliveries?status=parked&limit=100')).deliveries;
  } catch (err) {
    return section('Parked CRM calls', failure(err, 'Deliveries'));
  }
  if (list.length === 0) return section('Parked CRM calls', empty('No parked call: every hand-off reached the CRM.'));
  return section('Parked CRM calls', table('Calls the CRM kept refusing, newest first', [
    { label: 'Since', cell: (d) => when(d.created_ms) },
    { label: 'Webhook', cell: (d) => d.webhook },
    { label: 'What', cell: (d) => d.kind },
    { label: 'Person', cell: (d) => h('a', { href: `#/people/${enc(d.profile_id)}` }, d.profile_id) },
    { label: 'Tries', num: true, cell: (d) => d.attempts },
    { label: 'Last error', cell: (d) => d.last_error },
    {
      label: '', cell: (d) => canWrite() ? h('button', {
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

export async function operationsPage() {
  const [d, t] = await Promise.all([deliveries(), tokens()]);
  return h('div', { class: 'page' }, h('h1', {}, 'Operations'), d, t);
}
