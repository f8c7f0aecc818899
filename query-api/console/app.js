// The console's shell: who is signed in, the sign-in form, and the routes of the URL's fragment.
import { ApiError, canWrite, del, get, post, session } from './api.js';
import { failure, h } from './ui.js';
import { campaignPage, campaignsPage } from './campaigns.js';
import { listPage, listsPage } from './lists.js';
import { modelPage } from './models.js';
import { operationsPage } from './operations.js';
import { overviewPage } from './overview.js';
import { personPage, peoplePage } from './people.js';
import { rfmPage } from './rfm.js';
import { segmentPage, segmentsPage } from './segments.js';


const main = () => document.getElementById('main');

function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes);
}

function signInForm(error) {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'current-password',
    required: true, 'aria-describedby': 'token-help' + (error ? ' token-error' : ''),
    'aria-invalid': error ? 'true' : null,
  });
  const form = h('form', { class: 'signin', id: 'signin', novalidate: true },
    h('h1', {}, 'Sign in to leadstream'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'help' }, 'A workspace\'s API token (read-only or read-write). It is kept in a cookie this page cannot read, for eight hours.'),
    error ? h('p', { id: 'token-error', class: 'error', role: 'alert' }, error) : null,
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) { show(signInForm('Enter an API token.')); return; }
    try {
      const who = await post('/console/session', { token });
      Object.assign(session, who);
      input.value = '';
      start();
    } catch (err) {
      show(signInForm(err.status === 401 ? 'That token is not valid for any workspace.' : err.message));
      document.getElementById('token').focus();
    }
  });
  return form;
}

function signedOut(error) {
  document.getElementById('top').hidden = true;
  show(signInForm(error));
  const t = document.getElementById('token');
  if (t) t.focus();
}

async function route() {
  const path = (location.hash || '#/overview').slice(1).split('?')[0];
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) {
    a.toggleAttribute('aria-current', a.dataset.section === parts[0]);
  }
  try {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    if (parts[0] === 'people' && parts[1]) return show(await personPage(parts[1]));
    if (parts[0] === 'segments' && parts[1]) return show(await segmentPage(parts[1]));
    if (parts[0] === 'segments') return show(await segmentsPage());
    if (parts[0] === 'lists' && parts[1]) return show(await listPage(parts[1]));
    if (parts[0] === 'lists') return show(await listsPage());
    if (parts[0] === 'rfm') return show(await rfmPage(params));
    if (parts[0] === 'campaigns' && parts[1]) return show(await campaignPage(parts[1]));
    if (parts[0] === 'campaigns') return show(await campaignsPage(params));
    if (parts[0] === 'people') return show(await peoplePage(params));
    if (parts[0] === 'model') return show(await modelPage());
    if (parts[0] === 'operations') return show(await operationsPage(params));
    return show(await overviewPage(params));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut('Your session has ended: sign in again.');
    show(failure(err));
  }
}

function start() {
  document.getElementById('top').hidden = false;
  document.getElementById('who').textContent = `${session.workspace} · ${session.scope === 'read-write' ? 'read-write' : 'read-only'}`;
  document.body.classList.toggle('readonly', !canWrite());
  route();
}

window.addEventListener('hashchange', () => { if (session.workspace) route(); });

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('signout').addEventListener('click', async () => {
    try { await del('/console/session'); } catch { /* signed out either way */ }
    session.workspace = null;
    session.scope = null;
    signedOut();
  });
  try {
    Object.assign(session, await get('/console/session'));
    start();
  } catch (err) {
    signedOut(err.status === 401 || err.status === 403 ? null : err.message);
  }
});
