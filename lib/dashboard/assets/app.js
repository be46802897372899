// The dashboard's entry point: hash routing, the token form, and the view lifecycle.
//   #/handlers                      namespaces, handlers and versions
//   #/handlers/<ns>/<name>?version= a handler version's DAG and step templates
//   #/tasks?status=&page=           the task table with counts, filters and pagination
//   #/tasks/<id>                    one task, live while it runs

import { getToken, onAuthRequired, onTokenChange, setToken } from './api.js';
import { renderHandler, renderHandlers } from './views/handlers.js';
import { renderTask } from './views/task.js';
import { renderTasks } from './views/tasks.js';

const ROUTES = [
  { pattern: /^\/handlers\/?$/, nav: 'handlers', render: renderHandlers },
  { pattern: /^\/handlers\/([^/]+)\/([^/]+)\/?$/, nav: 'handlers', render: renderHandler },
  { pattern: /^\/tasks\/?$/, nav: 'tasks', render: renderTasks },
  { pattern: /^\/tasks\/([^/]+)\/?$/, nav: 'tasks', render: renderTask },
];

const main = document.getElementById('main');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token');
const tokenError = document.getElementById('token-error');
const authState = document.getElementById('auth-state');

let current = null; // { path, controller, cleanup }

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/tasks';
  const [p, q] = raw.split('?');
  return { path: p || '/tasks', query: new URLSearchParams(q || '') };
}

function route() {
  const { path, query } = parseHash();
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match) {
    location.replace('#/tasks');
    return;
  }
  const initial = current === null;
  const samePath = current && current.path === path;
  // Keyboard users keep their place when only the query changes (filters, pages).
  const focusedId = samePath && document.activeElement ? document.activeElement.id : null;
  if (current) {
    current.controller.abort();
    if (current.cleanup) current.cleanup();
  }
  const controller = new AbortController();
  current = { path, controller, cleanup: null };
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === match.r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const params = match.m.slice(1).map(decodeURIComponent);
  const ctx = { params, query, signal: controller.signal };
  const view = current;
  Promise.resolve(match.r.render(main, ctx))
    .then((cleanup) => {
      if (typeof cleanup === 'function') {
        if (view === current) view.cleanup = cleanup;
        else cleanup();
      }
      if (view !== current) return;
      const again = focusedId && document.getElementById(focusedId);
      if (again) again.focus();
      const lost = !document.activeElement || document.activeElement === document.body;
      // A new page moves focus to its heading (screen readers announce it), unless the user
      // is typing a token; a re-rendered page does only when the focused control is gone.
      if (!initial && ((!samePath && !tokenForm.contains(document.activeElement)) || lost)) {
        const heading = main.querySelector('h1');
        if (heading) {
          heading.setAttribute('tabindex', '-1');
          heading.focus({ preventScroll: true });
        }
      }
    })
    .catch((err) => {
      if (err && err.name !== 'AbortError') console.error(err);
    });
}

function showAuth(error) {
  tokenForm.hidden = false;
  authState.hidden = true;
  // Several requests may fail at once: only the first, which still had the token, says so.
  if (getToken()) {
    tokenError.hidden = false;
    tokenError.textContent = `The token was rejected: ${error.message}`;
    setToken(null);
  }
  if (document.activeElement === document.body || document.activeElement === main) {
    tokenInput.focus();
  }
}

function showTokenState(token) {
  authState.hidden = !token;
  if (token) tokenForm.hidden = true;
}

tokenForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = tokenInput.value.trim().replace(/^Bearer\s+/i, '');
  if (!token) return;
  tokenInput.value = '';
  tokenError.hidden = true;
  setToken(token);
  route();
});
document.getElementById('token-forget').addEventListener('click', () => {
  setToken(null);
  route();
});
onTokenChange(showTokenState);
onAuthRequired(showAuth);
showTokenState(getToken());

window.addEventListener('hashchange', route);
route();
