// Tasks: counts by status, filters, the task table and pagination. Only one page of tasks is
// ever loaded (the API caps a page at 100), so the view stays fast on any number of tasks.

import { api } from '../api.js';
import {
  STATUS_LABELS,
  TASK_STATUSES,
  badge,
  duration,
  elapsed,
  errorMessage,
  h,
  message,
  pageHeader,
  shortId,
  time,
} from '../dom.js';

const FILTERS = ['namespace', 'name', 'version', 'status'];
const PER_PAGE = [10, 25, 50, 100];

/** The hash of the task list for a set of filters and a page. */
function listHref(filters, page) {
  const q = new URLSearchParams();
  for (const k of [...FILTERS, 'per_page']) if (filters[k]) q.set(k, filters[k]);
  if (page > 1) q.set('page', String(page));
  const qs = q.toString();
  return `#/tasks${qs ? `?${qs}` : ''}`;
}

function readFilters(query) {
  const f = {};
  for (const k of [...FILTERS, 'per_page']) f[k] = query.get(k) || '';
  const page = Math.max(1, Number.parseInt(query.get('page') || '1', 10) || 1);
  return { filters: f, page };
}

/** `#/tasks`: the task table. */
export async function renderTasks(main, { query, signal }) {
  document.title = 'Tasks · Tasker';
  const { filters, page } = readFilters(query);
  main.append(pageHeader('Tasks'));
  const counts = h('div', { class: 'counts', id: 'status-counts' });
  const form = filterForm(filters);
  const results = h('section', { 'aria-labelledby': 'tasks-heading', class: 'card' });
  main.append(counts, form, results);
  results.append(message('info', 'Loading tasks…'));

  // Options for the filter selects come from the handler catalogue; failing that, free text.
  api('handlers', { signal })
    .then(({ namespaces }) => fillCatalogue(form, namespaces, filters))
    .catch(() => {});

  const scope = { namespace: filters.namespace, name: filters.name, version: filters.version };
  renderCounts(counts, scope, filters, signal);

  let list;
  try {
    list = await api('tasks', {
      query: { ...filters, page, per_page: filters.per_page || undefined },
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    results.replaceChildren(h('h2', { id: 'tasks-heading' }, 'Results'), errorMessage(err));
    return;
  }
  renderResults(results, list, filters);
}

/** One cheap request per status (per_page=1 and read total_count), in parallel. */
async function renderCounts(el, scope, filters, signal) {
  const statuses = ['', ...TASK_STATUSES];
  const items = statuses.map((st) => {
    const href = listHref({ ...filters, status: st }, 1);
    const value = h('span', { class: 'count-value' }, '…');
    const current = (filters.status || '') === st;
    const a = h(
      'a',
      {
        href,
        class: `count${st ? ` status-${st}` : ' count-all'}`,
        'aria-current': current ? 'true' : null,
        dataset: { status: st || 'all' },
      },
      h('span', { class: 'count-label' }, st ? STATUS_LABELS[st] : 'All'),
      value,
    );
    return { st, a, value };
  });
  el.append(
    h('h2', { class: 'visually-hidden' }, 'Tasks by status'),
    h(
      'ul',
      { class: 'count-list' },
      items.map((i) => h('li', null, i.a)),
    ),
  );
  await Promise.all(
    items.map(({ st, value }) =>
      api('tasks', { query: { ...scope, status: st, per_page: 1 }, signal })
        .then((r) => (value.textContent = r.pagination.total_count.toLocaleString('en-US')))
        .catch((err) => {
          if (err.name !== 'AbortError') value.textContent = '?';
        }),
    ),
  );
}

function filterForm(filters) {
  const field = (id, labelText, control) =>
    h('div', { class: 'field' }, h('label', { for: id }, labelText), control);
  const form = h(
    'form',
    { class: 'filters card', id: 'task-filters', role: 'search', 'aria-label': 'Filter tasks' },
    field(
      'f-namespace',
      'Namespace',
      h('input', {
        id: 'f-namespace',
        name: 'namespace',
        value: filters.namespace,
        list: 'dl-namespaces',
        autocomplete: 'off',
      }),
    ),
    field(
      'f-name',
      'Handler',
      h('input', {
        id: 'f-name',
        name: 'name',
        value: filters.name,
        list: 'dl-names',
        autocomplete: 'off',
      }),
    ),
    field(
      'f-version',
      'Version',
      h('input', {
        id: 'f-version',
        name: 'version',
        value: filters.version,
        placeholder: 'e.g. 2.1.0',
        autocomplete: 'off',
      }),
    ),
    field(
      'f-status',
      'Status',
      h(
        'select',
        { id: 'f-status', name: 'status' },
        h('option', { value: '' }, 'Any'),
        TASK_STATUSES.map((st) =>
          h('option', { value: st, selected: filters.status === st }, STATUS_LABELS[st]),
        ),
      ),
    ),
    field(
      'f-per-page',
      'Per page',
      h(
        'select',
        { id: 'f-per-page', name: 'per_page' },
        PER_PAGE.map((n) =>
          h(
            'option',
            { value: String(n), selected: String(filters.per_page || 25) === String(n) },
            String(n),
          ),
        ),
      ),
    ),
    h(
      'div',
      { class: 'field buttons' },
      h('button', { type: 'submit', id: 'filters-apply' }, 'Apply'),
      h('a', { class: 'button-link secondary', href: '#/tasks', id: 'filters-reset' }, 'Reset'),
    ),
    h('datalist', { id: 'dl-namespaces' }),
    h('datalist', { id: 'dl-names' }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const k of [...FILTERS, 'per_page']) next[k] = String(data.get(k) || '').trim();
    if (next.per_page === '25') next.per_page = '';
    const href = listHref(next, 1);
    if (location.hash === href) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = href;
  });
  return form;
}

function fillCatalogue(form, namespaces) {
  const opts = (values) => values.map((v) => h('option', { value: v }));
  form.querySelector('#dl-namespaces').replaceChildren(...opts(namespaces.map((n) => n.name)));
  const names = [...new Set(namespaces.flatMap((n) => n.handlers))].sort();
  form.querySelector('#dl-names').replaceChildren(...opts(names));
}

function renderResults(section, { tasks, pagination }, filters) {
  const { current_page: page, total_pages: pages, total_count: total } = pagination;
  const heading = h('h2', { id: 'tasks-heading' }, 'Results');
  const summary = h(
    'p',
    { class: 'summary', id: 'tasks-summary' },
    total === 0
      ? 'No tasks match.'
      : `${total.toLocaleString('en-US')} task${total === 1 ? '' : 's'} · page ${page} of ${Math.max(pages, 1)}`,
  );
  if (tasks.length === 0) {
    section.replaceChildren(heading, summary);
    if (page > 1 && total > 0) {
      section.append(h('p', null, h('a', { href: listHref(filters, 1) }, 'Go to page 1')));
    }
    return;
  }
  const cols = ['Task', 'Status', 'Namespace', 'Handler', 'Version', 'Created', 'Duration'];
  const table = h(
    'table',
    { class: 'responsive tasks', id: 'tasks-table' },
    h('caption', { class: 'visually-hidden' }, 'Tasks, newest first'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        cols.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      null,
      tasks.map((t) =>
        h(
          'tr',
          { dataset: { taskId: t.id, status: t.status } },
          h(
            'th',
            { scope: 'row', 'data-label': 'Task' },
            h(
              'a',
              {
                href: `#/tasks/${encodeURIComponent(t.id)}`,
                title: t.id,
                'aria-label': `Task ${t.id}`,
              },
              h('code', null, shortId(t.id)),
            ),
          ),
          h('td', { 'data-label': 'Status' }, badge(t.status)),
          h('td', { 'data-label': 'Namespace' }, t.namespace),
          h('td', { 'data-label': 'Handler' }, t.name),
          h('td', { 'data-label': 'Version' }, t.version),
          h('td', { 'data-label': 'Created' }, time(t.created_at)),
          h('td', { 'data-label': 'Duration', class: 'num' }, taskDuration(t)),
        ),
      ),
    ),
  );
  section.replaceChildren(
    heading,
    summary,
    h('div', { class: 'table-wrap' }, table),
    pager(filters, page, pages),
  );
}

/** Start to end; while running, start to now; before the start, nothing. */
export function taskDuration(t) {
  const ms = elapsed(t.started_at, t.completed_at);
  if (ms === null) return '—';
  return t.completed_at ? duration(ms) : `${duration(ms)} so far`;
}

function pager(filters, page, pages) {
  const link = (text, target, id, label) =>
    target >= 1 && target <= pages && target !== page
      ? h(
          'a',
          { href: listHref(filters, target), id, 'aria-label': label, class: 'page-link' },
          text,
        )
      : h('span', { class: 'page-link disabled', 'aria-disabled': 'true', id }, text);
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pagination' },
    link('« First', 1, 'page-first', 'First page'),
    link('‹ Previous', page - 1, 'page-prev', 'Previous page'),
    h(
      'span',
      { class: 'page-status', 'aria-current': 'page' },
      `Page ${page} of ${Math.max(pages, 1)}`,
    ),
    link('Next ›', page + 1, 'page-next', 'Next page'),
    link('Last »', pages, 'page-last', 'Last page'),
  );
}
