// The REST API client. The page is served at <mount>/ui/, so the API is one level up:
// relative URLs make the dashboard work under any mount path.

const TOKEN_KEY = 'tasker.token';
const apiBase = new URL('../', location.href.split('#')[0]);

/** An error answer of the API, with its envelope's code and message. */
export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (error && error.code) || null;
    this.details = (error && error.details) || null;
  }
}

/** The token pasted by the user, kept for this browser tab only. */
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives until the page is reloaded.
  }
  memoryToken = token || null;
  for (const fn of tokenListeners) fn(token || null);
}

let memoryToken = null;
const tokenListeners = new Set();
const authListeners = new Set();

/** Called with the token whenever it changes. */
export function onTokenChange(fn) {
  tokenListeners.add(fn);
}

/** Called with the ApiError whenever the API answers 401. */
export function onAuthRequired(fn) {
  authListeners.add(fn);
}

/** A path of the API with its segments encoded: `path('tasks', id, 'steps')`. */
export function path(...segments) {
  return segments.map((s) => encodeURIComponent(String(s))).join('/');
}

/**
 * Calls the API. `query` entries that are empty are left out. Resolves with the JSON body;
 * rejects with an ApiError (status 0 when the server could not be reached).
 */
export async function api(relative, { method = 'GET', query, body, signal } = {}) {
  const url = new URL(relative, apiBase);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { Accept: 'application/json' };
  const token = getToken() || memoryToken;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, { message: 'The server could not be reached', code: 'NETWORK_ERROR' });
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON (e.g. a proxy's error page): the status alone tells what happened.
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data && data.error);
    if (res.status === 401) for (const fn of authListeners) fn(error);
    throw error;
  }
  return data;
}
