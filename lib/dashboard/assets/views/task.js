// One task: its DAG coloured by step status, the steps, the history, and Cancel / Retry.
// While the task is not final the view polls every second (paused while the tab is hidden)
// and updates in place, so open <details> and keyboard focus survive the updates.

import { api, onTokenChange, path } from '../api.js';
import { drawDag, legend, levelsFromSteps } from '../dag.js';
import {
  STATUS_LABELS,
  announce,
  badge,
  breakable,
  duration,
  elapsed,
  errorMessage,
  h,
  jsonDetails,
  message,
  pageHeader,
  shortId,
  time,
} from '../dom.js';
import { taskDuration } from './tasks.js';
import { timelineEvents, timelineItem } from './timeline.js';

const POLL_MS = 1000;
const SETTLED = new Set(['complete', 'cancelled', 'resolved_manually', 'error']);
const STEP_LEGEND = [
  'pending',
  'in_progress',
  'complete',
  'error',
  'skipped',
  'cancelled',
  'resolved_manually',
];
const COLUMNS = ['Step', 'Status', 'Attempts', 'Started', 'Duration', 'Last error', 'Results'];

// Actions the API refused with 403 for the current token: their buttons stay hidden.
const forbidden = new Set();
onTokenChange(() => forbidden.clear());

const canCancel = (task) => ['pending', 'in_progress', 'error'].includes(task.status);
const canRetry = (task, steps) =>
  task.status === 'error' ||
  (task.status === 'in_progress' && steps.some((st) => st.status === 'error' && !st.next_retry_at));

async function load(id, signal) {
  const [task, stepList] = await Promise.all([
    api(path('tasks', id), { query: { include_dependencies: true }, signal }),
    // The history needs another permission; without it the view still shows the steps.
    api(path('tasks', id, 'steps'), { signal }).catch((err) => {
      if (err.status === 403) return null;
      throw err;
    }),
  ]);
  return { task, steps: stepList ? stepList.steps : task.steps, history: Boolean(stepList) };
}

/** Replaces `el`'s children only when `key` differs from the last one rendered. */
function patch(el, key, render) {
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.replaceChildren(
    ...[render()].flat().filter((c) => c !== null && c !== undefined && c !== false),
  );
}

/** `#/tasks/<id>`. */
export async function renderTask(main, { params: [id], signal }) {
  document.title = `Task ${shortId(id)} · Tasker`;
  main.append(pageHeader(`Task ${shortId(id)}`, [['Tasks', '#/tasks']]));
  const loading = main.appendChild(message('info', 'Loading task…'));
  let data;
  try {
    data = await load(id, signal);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    loading.replaceWith(errorMessage(err));
    return;
  }
  const { task } = data;
  let graph;
  try {
    const hd = await api(path('handlers', task.namespace, task.name), {
      query: { version: task.version },
      signal,
    });
    graph = hd.dependency_graph;
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    graph = levelsFromSteps(data.steps); // handler version no longer registered here
  }
  loading.remove();
  main.querySelector('h1').replaceChildren(...breakable(task.full_name));

  const meta = h('dl', { class: 'meta', id: 'task-meta' });
  const actions = h('div', { class: 'actions', id: 'task-actions' });
  const actionMsg = h('div', { id: 'action-message', role: 'status', 'aria-live': 'polite' });
  const live = h('p', { class: 'live', id: 'live-state' });
  const analysis = h('p', { class: 'analysis', id: 'task-analysis' });
  const dag = drawDag(graph, { onSelect: focusStep });
  const tbody = h('tbody');
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const rows = new Map();

  main.append(
    h('div', { class: 'task-top' }, actions, live),
    actionMsg,
    meta,
    analysis,
    jsonDetails('Context', task.context),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'task-dag-heading' },
      h('h2', { id: 'task-dag-heading' }, 'Steps graph'),
      legend(STEP_LEGEND),
      dag.element,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'steps-heading' },
      h('h2', { id: 'steps-heading' }, 'Steps'),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'responsive steps', id: 'steps-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              COLUMNS.map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          tbody,
        ),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'timeline-heading' },
      h('h2', { id: 'timeline-heading' }, 'Timeline'),
      timeline,
    ),
  );

  let stopped = false;
  let timer = null;
  let lastStatus = task.status;

  function update(next) {
    data = next;
    const t = next.task;
    if (t.status !== lastStatus) announce(`Task is now ${STATUS_LABELS[t.status] || t.status}`);
    lastStatus = t.status;
    patchMeta(meta, t);
    renderActions(t, next.steps);
    patch(live, String(SETTLED.has(t.status)), () =>
      SETTLED.has(t.status)
        ? 'Final state: not updating.'
        : [h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live: updating every second.'],
    );
    patch(analysis, (t.dependencies && t.dependencies.analysis) || '', () =>
      t.dependencies ? t.dependencies.analysis : '',
    );
    dag.update(Object.fromEntries(next.steps.map((st) => [st.name, st.status])));
    for (const st of next.steps) updateRow(st);
    const events = timelineEvents(t, next.steps);
    patch(timeline, `${events.length}:${t.status}:${next.history}`, () =>
      next.history
        ? events.map(timelineItem)
        : h('li', null, 'The step history needs the tasker.workflow_step:index permission.'),
    );
  }

  function updateRow(st) {
    let row = rows.get(st.name);
    if (!row) {
      const cells = COLUMNS.map((c, i) =>
        h(i === 0 ? 'th' : 'td', { 'data-label': c, scope: i === 0 ? 'row' : null }),
      );
      row = {
        tr: h('tr', { id: `step-${st.name}`, tabindex: -1, dataset: { step: st.name } }, cells),
        cells,
      };
      rows.set(st.name, row);
      tbody.append(row.tr);
    }
    const [name, status, attempts, started, dur, error, results] = row.cells;
    row.tr.dataset.status = st.status;
    patch(name, st.name, () => h('code', null, st.name));
    patch(status, st.status, () => badge(st.status));
    patch(attempts, `${st.attempts}/${st.max_attempts}`, () =>
      h(
        'span',
        { title: `at most ${st.max_attempts} attempts` },
        `${st.attempts} / ${st.max_attempts}`,
      ),
    );
    patch(started, st.started_at || '', () => time(st.started_at));
    const { text: durText, key: durKey } = stepDuration(st);
    patch(dur, durKey, () => durText);
    patch(error, JSON.stringify([st.last_error, st.next_retry_at]), () => errorCell(st));
    patch(results, JSON.stringify(st.results), () =>
      st.results === null || st.results === undefined ? '—' : jsonDetails('Results', st.results),
    );
  }

  function renderActions(t, steps) {
    const want = [];
    if (canCancel(t) && !forbidden.has('cancel')) want.push('cancel');
    if (canRetry(t, steps) && !forbidden.has('retry')) want.push('retry');
    patch(actions, want.join(','), () =>
      want.map((kind) =>
        h(
          'button',
          {
            type: 'button',
            id: `${kind}-task`,
            class: kind === 'cancel' ? 'danger' : 'primary',
            onclick: (ev) => act(kind, ev.currentTarget),
          },
          kind === 'cancel' ? 'Cancel task' : 'Retry failed steps',
        ),
      ),
    );
  }

  async function act(kind, button) {
    if (
      kind === 'cancel' &&
      !window.confirm(`Cancel ${data.task.full_name}? Running steps are aborted.`)
    )
      return;
    button.disabled = true;
    actionMsg.replaceChildren(message('info', kind === 'cancel' ? 'Cancelling…' : 'Retrying…'));
    try {
      const t = await api(kind === 'cancel' ? path('tasks', id) : path('tasks', id, 'retry'), {
        method: kind === 'cancel' ? 'DELETE' : 'POST',
        signal,
      });
      actionMsg.replaceChildren(
        message(
          'info',
          kind === 'cancel'
            ? 'The task was cancelled.'
            : `Retrying: the task is ${STATUS_LABELS[t.status] || t.status}.`,
        ),
      );
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.status === 403) forbidden.add(kind);
      actionMsg.replaceChildren(errorMessage(err));
    } finally {
      button.disabled = false;
    }
    await tick();
  }

  async function tick() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      update(await load(id, signal));
    } catch (err) {
      if (err.name === 'AbortError') return;
      live.dataset.key = 'error';
      live.replaceChildren(errorMessage(err));
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (stopped || document.hidden || SETTLED.has(data.task.status)) return;
    timer = setTimeout(tick, POLL_MS);
  }

  const onVisibility = () => (document.hidden ? clearTimeout(timer) : void tick());
  document.addEventListener('visibilitychange', onVisibility);
  update(data);
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/**
 * Start to completion; while running, start to now ("so far"); for a step that stopped without
 * completing (error, cancelled), start to its last transition.
 */
function stepDuration(st) {
  if (!st.started_at) return { text: '—', key: '' };
  if (st.completed_at) {
    return { text: duration(elapsed(st.started_at, st.completed_at)), key: st.completed_at };
  }
  if (st.status === 'in_progress') {
    const ms = elapsed(st.started_at, null);
    return { text: `${duration(ms)} so far`, key: String(Math.floor(ms / 1000)) };
  }
  const last = (st.transitions || []).at(-1);
  if (!last || Date.parse(last.at) < Date.parse(st.started_at)) return { text: '—', key: '-' };
  return { text: duration(elapsed(st.started_at, last.at)), key: last.at };
}

function focusStep(name) {
  const row = document.getElementById(`step-${name}`);
  if (!row) return;
  row.scrollIntoView({ block: 'center' });
  row.focus({ preventScroll: true });
  const details = row.querySelector('details');
  if (details) details.open = true;
}

/** The task's facts; each value is redrawn only when it changes (the duration ticks). */
function patchMeta(dl, t) {
  const items = [
    ['Status', t.status, () => badge(t.status)],
    [
      'Handler',
      '',
      () =>
        h(
          'a',
          {
            href: `#/handlers/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.name)}?version=${encodeURIComponent(t.version)}`,
          },
          `${t.namespace}.${t.name}@${t.version}`,
        ),
    ],
    ['Task id', '', () => h('code', { class: 'break' }, t.id)],
    ['Created', t.created_at, () => time(t.created_at)],
    ['Started', t.started_at || '', () => time(t.started_at)],
    ['Completed', t.completed_at || '', () => time(t.completed_at)],
    ['Duration', taskDuration(t), () => taskDuration(t)],
  ];
  if (dl.children.length === 0) {
    for (const [label] of items) dl.append(h('div', null, h('dt', null, label), h('dd')));
  }
  items.forEach(([, key, render], i) => patch(dl.children[i].lastElementChild, key, render));
}

function errorCell(st) {
  const e = st.last_error;
  if (!e) return '—';
  return [
    h('div', { class: 'error-text' }, e.message),
    h(
      'div',
      { class: 'muted small' },
      [e.class, e.code, e.attempt ? `attempt ${e.attempt}` : null].filter(Boolean).join(' · '),
    ),
    st.next_retry_at && h('div', { class: 'small' }, 'Retries at ', time(st.next_retry_at)),
  ];
}
