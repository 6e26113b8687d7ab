// The public HTTP API on this origin, and the session. The access token lives
// in this module's variables only: not in storage, not in a URL; reloading
// the tab or signing out forgets it. A client secret is used for one token
// request and never kept.

const meta = document.querySelector('meta[name="sentryagent-api"]');
/** The API's path on this origin, e.g. `/api/v1`. */
export const API_BASE = (meta?.getAttribute('content') || '/api/v1').replace(/\/$/, '');
/** The API's absolute URL, for snippets. */
export const API_URL = new URL(API_BASE, window.location.origin).href.replace(/\/$/, '');

let accessToken = null;
let tenant = null;
const listeners = new Set();

/** An error answer of the API, or a failure to reach it. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Calls the API: `json` or `form` is the body; the session's token is sent
 *  unless `auth` is false. Answers the parsed JSON (or null). */
export async function api(method, path, { json, form, auth = true, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  }
  const sentToken = auth ? accessToken : null;
  if (sentToken) init.headers.Authorization = `Bearer ${sentToken}`;
  let response;
  try {
    response = await fetch(`${API_BASE}${path}`, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached. Check your connection and try again.');
  }
  const type = response.headers.get('content-type') || '';
  let body = null;
  if (type.includes('json')) {
    try { body = await response.json(); } catch { body = null; }
  }
  if (response.ok) return body;
  const code = body?.code || body?.error || `HTTP_${response.status}`;
  let message = body?.message || body?.error_description || `The server answered ${response.status} ${response.statusText}.`;
  if (response.status === 401 && sentToken && sentToken === accessToken) {
    signOut();
    message = `Your session has ended (${message}). Sign in again.`;
  } else if (response.status === 429) {
    const wait = response.headers.get('retry-after');
    if (wait) message = `${message} Try again in ${wait} s.`;
  }
  throw new ApiError(response.status, code, message, body?.details);
}

/** `query` as `?a=b&…`, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A client-credentials token for `clientId` (no session change). */
export function issueToken(clientId, clientSecret, scope) {
  const form = { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret };
  if (scope) form.scope = scope;
  return api('POST', '/oauth2/token', { form, auth: false });
}

/** Signs in with a tenant's admin client credentials: one token request;
 *  the secret is not kept. Answers the tenant. */
export async function signIn(clientId, clientSecret) {
  const token = await issueToken(clientId, clientSecret);
  return useToken(token.access_token);
}

/** Makes `token` the session's (e.g. the wizard's admin token). */
export async function useToken(token) {
  accessToken = token;
  try {
    tenant = await api('GET', '/tenants/me');
  } catch (error) {
    signOut();
    throw error;
  }
  notify();
  return tenant;
}

/** Forgets the token. */
export function signOut() {
  const was = accessToken !== null;
  accessToken = null;
  tenant = null;
  if (was) notify();
}

/** The signed-in tenant, or null. */
export function currentTenant() {
  return accessToken ? tenant : null;
}

/** Calls `listener` whenever the session changes. */
export function onSession(listener) {
  listeners.add(listener);
}

function notify() {
  for (const listener of listeners) listener(currentTenant());
}
