// Handlers: namespaces with their handlers and versions; one handler version's DAG and steps.

import { api, path } from '../api.js';
import { drawDag } from '../dag.js';
import {
  append,
  duration,
  breakable as wrap,
  errorMessage,
  h,
  jsonDetails,
  message,
  pageHeader,
} from '../dom.js';

const handlerHref = (ns, name, version) =>
  `#/handlers/${encodeURIComponent(ns)}/${encodeURIComponent(name)}` +
  (version ? `?version=${encodeURIComponent(version)}` : '');

/** `#/handlers`: every namespace, its handlers, their latest version and all versions. */
export async function renderHandlers(main, { query, signal }) {
  document.title = 'Handlers · Tasker';
  main.append(pageHeader('Handlers'));
  const status = main.appendChild(message('info', 'Loading handlers…'));
  let namespaces;
  try {
    ({ namespaces } = await api('handlers', { signal }));
  } catch (err) {
    status.replaceWith(errorMessage(err));
    return;
  }
  if (namespaces.length === 0) {
    status.replaceWith(message('empty', 'No handlers are registered.'));
    return;
  }
  const details = await Promise.all(
    namespaces.map((ns) =>
      api(path('handlers', ns.name), { signal }).catch((err) => {
        if (err.name === 'AbortError') throw err;
        return { error: err };
      }),
    ),
  );
  status.remove();
  append(main, [
    h(
      'p',
      { class: 'summary' },
      `${namespaces.length} namespaces, ${namespaces.reduce((n, ns) => n + ns.handler_count, 0)} handlers`,
    ),
    namespaces.map((ns, i) => namespaceSection(ns, details[i])),
  ]);
  // `#/handlers?namespace=payments` (the handler page's breadcrumb) opens at that namespace.
  const target = query.get('namespace') && document.getElementById(`ns-${query.get('namespace')}`);
  if (target) target.scrollIntoView();
}

function namespaceSection(ns, detail) {
  const headingId = `ns-${ns.name}`;
  return h(
    'section',
    { class: 'card namespace', 'aria-labelledby': headingId, dataset: { namespace: ns.name } },
    h(
      'div',
      { class: 'namespace-head' },
      h('h2', { id: headingId }, ns.name),
      ns.description && h('p', { class: 'muted' }, ns.description),
    ),
    detail.error
      ? errorMessage(detail.error)
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'responsive handlers-table' },
            h('caption', { class: 'visually-hidden' }, `Handlers of ${ns.name}`),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Handler', 'Latest', 'Versions', 'Steps', 'Description'].map((t) =>
                  h('th', { scope: 'col' }, t),
                ),
              ),
            ),
            h(
              'tbody',
              null,
              detail.handlers.map((hd) =>
                h(
                  'tr',
                  null,
                  h(
                    'th',
                    { scope: 'row', 'data-label': 'Handler' },
                    h('a', { href: handlerHref(ns.name, hd.id) }, hd.id),
                  ),
                  h('td', { 'data-label': 'Latest' }, hd.version),
                  h(
                    'td',
                    { 'data-label': 'Versions' },
                    h(
                      'ul',
                      { class: 'inline-list' },
                      (hd.versions || [hd.version]).map((v) =>
                        h(
                          'li',
                          null,
                          h(
                            'a',
                            {
                              href: handlerHref(ns.name, hd.id, v),
                              'aria-label': `${hd.id} version ${v}`,
                            },
                            v,
                          ),
                        ),
                      ),
                    ),
                  ),
                  h('td', { 'data-label': 'Steps', class: 'num' }, String(hd.step_count)),
                  h('td', { 'data-label': 'Description' }, hd.description || ''),
                ),
              ),
            ),
          ),
        ),
  );
}

/** The retry policy of a step template in words. */
export function retryPolicy(t) {
  if (!t.default_retryable || t.default_retry_limit === 0) return 'No retry (1 attempt)';
  const n = t.default_retry_limit;
  return `Up to ${n} ${n === 1 ? 'retry' : 'retries'} (${n + 1} attempts)`;
}

const shortPolicy = (t) =>
  [
    t.default_retryable && t.default_retry_limit > 0
      ? `retry ×${t.default_retry_limit}`
      : 'no retry',
    t.skippable && 'skippable',
    t.custom_events.length > 0 &&
      `${t.custom_events.length} event${t.custom_events.length > 1 ? 's' : ''}`,
  ]
    .filter(Boolean)
    .join(' · ');

/** `#/handlers/<ns>/<name>?version=`: a handler version's graph and step templates. */
export async function renderHandler(main, { params: [ns, name], query, signal }) {
  const version = query.get('version') || '';
  const crumbs = [
    ['Handlers', '#/handlers'],
    [ns, `#/handlers?namespace=${encodeURIComponent(ns)}`],
  ];
  main.append(pageHeader(`${ns}.${name}`, crumbs));
  const status = main.appendChild(message('info', 'Loading handler…'));
  let hd;
  try {
    hd = await api(path('handlers', ns, name), { query: { version }, signal });
  } catch (err) {
    status.replaceWith(errorMessage(err));
    return;
  }
  status.remove();
  main.querySelector('h1').replaceChildren(...wrap(`${hd.namespace}.${hd.id}@${hd.version}`));
  document.title = `${hd.namespace}.${hd.id}@${hd.version} · Tasker`;

  const select = h(
    'select',
    {
      id: 'handler-version',
      onchange: (ev) => (location.hash = handlerHref(ns, name, ev.target.value)),
    },
    (hd.versions || [hd.version]).map((v) =>
      h('option', { value: v, selected: v === hd.version }, v),
    ),
  );
  const templates = new Map(hd.step_templates.map((t) => [t.name, t]));
  const graph = hd.dependency_graph;
  const dag = drawDag(graph, { detail: (step) => shortPolicy(templates.get(step)) });

  append(main, [
    hd.description && h('p', { class: 'lead' }, hd.description),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'handler-version' }, 'Version'),
      select,
      h(
        'span',
        { class: 'muted' },
        `${hd.step_templates.length} steps in ${graph.levels.length} levels`,
      ),
      h(
        'a',
        {
          class: 'button-link',
          href: `#/tasks?namespace=${encodeURIComponent(ns)}&name=${encodeURIComponent(name)}`,
        },
        'Tasks of this handler',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'dag-heading', class: 'card' },
      h('h2', { id: 'dag-heading' }, 'Dependency graph'),
      h('p', { class: 'hint' }, 'Steps in one column run in parallel once their parents are done.'),
      dag.element,
    ),
    h(
      'section',
      { 'aria-labelledby': 'templates-heading', class: 'card' },
      h('h2', { id: 'templates-heading' }, 'Step templates'),
      h('div', { class: 'table-wrap' }, templatesTable(hd.step_templates)),
    ),
    hd.context_schema && jsonDetails('Context schema (JSON Schema)', hd.context_schema),
  ]);
}

function templatesTable(templates) {
  const cols = [
    'Step',
    'Depends on',
    'Retry policy',
    'Timeout',
    'Skippable',
    'Custom events',
    'Handler class',
  ];
  return h(
    'table',
    { class: 'responsive', id: 'step-templates' },
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
      templates.map((t) => {
        const parents = t.depends_on_steps || (t.depends_on_step ? [t.depends_on_step] : []);
        return h(
          'tr',
          { dataset: { step: t.name } },
          h(
            'th',
            { scope: 'row', 'data-label': 'Step' },
            h('code', null, t.name),
            t.description && h('div', { class: 'muted small' }, t.description),
          ),
          h('td', { 'data-label': 'Depends on' }, parents.length ? parents.join(', ') : '—'),
          h('td', { 'data-label': 'Retry policy' }, retryPolicy(t)),
          h('td', { 'data-label': 'Timeout' }, t.timeout_ms ? duration(t.timeout_ms) : '—'),
          h('td', { 'data-label': 'Skippable' }, t.skippable ? 'Yes' : 'No'),
          h(
            'td',
            { 'data-label': 'Custom events' },
            t.custom_events.length
              ? h(
                  'ul',
                  { class: 'inline-list' },
                  t.custom_events.map((e) => h('li', null, h('code', null, e))),
                )
              : '—',
          ),
          h(
            'td',
            { 'data-label': 'Handler class' },
            h('code', null, wrap(t.handler_class, /(::)/)),
          ),
        );
      }),
    ),
  );
}
