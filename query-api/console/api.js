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

/// One call with the console's header (and a JSON body, if given): the answer when it is a
/// success, an `ApiError` with the API's message otherwise (status 0: no answer at all).
export async function send(method, path, body, accept = 'application/json') {
  const options = {
    method,
    credentials: 'same-origin',
    headers: { 'x-leadstream-console': '1', accept },
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
  if (!response.ok) {
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch { data = { message: text }; }
    throw new ApiError(response.status, data);
  }
  return response;
}

export async function api(method, path, body) {
  const text = await (await send(method, path, body)).text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { message: text }; }
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const del = (path) => api('DELETE', path);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);

/// Fetches a file (an export) and hands it to the browser as a download named `filename`.
export async function download(method, path, body, filename) {
  const response = await send(method, path, body, '*/*');
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return blob.size;
}

/// Sends a file's bytes (a CSV import), reporting the upload's progress (0 to 1) as it goes.
export function upload(path, file, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('x-leadstream-console', '1');
    xhr.setRequestHeader('content-type', contentType);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { message: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data); else reject(new ApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { message: 'The query API cannot be reached.' })));
    xhr.send(file);
  });
}
