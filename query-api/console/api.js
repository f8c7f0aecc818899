// Calls to the query API's public routes. The session cookie (HttpOnly: this script never sees
// the token) authenticates a call that carries the console's header.

/// Who is signed in: the workspace and the token's scope (`read` or `read-write`).
export const session = { workspace: null, scope: null };
export const canWrite = () => session.scope === 'read-write';

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (body && body.code) || '';
    this.field = error.field || null;
    this.requestId = (body && body.request_id) || null;
  }
}

export async function api(method, path, body) {
  const options = {
    method,
    credentials: 'same-origin',
    headers: { 'x-leadstream-console': '1', accept: 'application/json' },
  };
  if (body !== undefined) {
    options.headers['content-type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError(0, { message: `The query API cannot be reached (${e.message}).` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const del = (path) => api('DELETE', path);
