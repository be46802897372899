// DOM helpers. Data is only ever written as text nodes or attribute values: never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, strings (as text), arrays; skips null, undefined and false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** `h('a', { href, class }, 'text', child)`: an HTML element. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Every status, in lifecycle order, with the label shown next to its colour. */
export const STATUS_LABELS = {
  pending: 'Pending',
  in_progress: 'In progress',
  complete: 'Complete',
  error: 'Error',
  cancelled: 'Cancelled',
  resolved_manually: 'Resolved manually',
  skipped: 'Skipped',
};
export const TASK_STATUSES = Object.keys(STATUS_LABELS).filter((k) => k !== 'skipped');
export const FINAL_TASK_STATUSES = new Set(['complete', 'cancelled', 'resolved_manually', 'error']);

/** A status badge: colour and its text label, never colour alone. */
export function badge(status) {
  return h(
    'span',
    { class: `badge status-${status}`, dataset: { status } },
    STATUS_LABELS[status] || status,
  );
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** A local date and time `2024-01-15 10:30:05`, in a <time> with the ISO value. */
export function time(iso, { ms = false } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const text =
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    (ms ? `.${pad(d.getMilliseconds(), 3)}` : '');
  return h('time', { datetime: iso, title: iso }, text);
}

/** `850 ms`, `12.4 s`, `3 min 5 s`, `2 h 10 min`. */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** How long something ran: to `end`, or to now while it is still running. */
export function elapsed(start, end) {
  if (!start) return null;
  return (end ? Date.parse(end) : Date.now()) - Date.parse(start);
}

const MAX_JSON = 100_000;

/** Collapsible JSON: <details> with the pretty-printed value, cut at 100 KB. */
export function jsonDetails(summary, value, { open = false } = {}) {
  let text = JSON.stringify(value, null, 2) ?? 'null';
  if (text.length > MAX_JSON) text = `${text.slice(0, MAX_JSON)}\n… (truncated)`;
  return h('details', { class: 'json', open }, h('summary', null, summary), h('pre', null, text));
}

/** A message block; `kind` is info, error or empty. */
export function message(kind, ...children) {
  return h(
    'div',
    { class: `message message-${kind}`, role: kind === 'error' ? 'alert' : null },
    children,
  );
}

/** Says `text` to screen readers through the page's live region. */
export function announce(text) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  // A new text node a tick later, so the same message twice is announced twice.
  setTimeout(() => (el.textContent = text), 50);
}

/** `ns.name@1.0.0` with line-break opportunities after separators and before `@` (phones). */
export function breakable(text, sep = /([.:_])/) {
  const [name, ...rest] = String(text).split('@');
  const parts = name.split(sep).flatMap((p) => (sep.test(p) ? [p, h('wbr')] : p ? [p] : []));
  return rest.length > 0 ? [...parts, h('wbr'), `@${rest.join('@')}`] : parts;
}

/** Short form of a UUID for tables (the full id is in the link's title and label). */
export const shortId = (id) => String(id).slice(0, 8);

/** What to show when a view's request failed. */
export function errorMessage(err) {
  if (err.status === 401) {
    return message('error', 'Authentication is required: paste an API token in the form above.');
  }
  if (err.status === 403) return message('error', `Not allowed: ${err.message}`);
  return message('error', err.message || String(err));
}

/** A page heading with an optional breadcrumb trail of `[text, href]` pairs. */
export function pageHeader(title, crumbs = [], ...extra) {
  return h(
    'div',
    { class: 'page-header' },
    crumbs.length > 0 &&
      h(
        'nav',
        { 'aria-label': 'Breadcrumb', class: 'crumbs' },
        h(
          'ol',
          null,
          crumbs.map(([text, href]) => h('li', null, h('a', { href }, text))),
        ),
      ),
    h('h1', null, title),
    extra,
  );
}
