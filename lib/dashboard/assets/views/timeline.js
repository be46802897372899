// A task's history as a timeline: the task's own milestones and every step transition.

import { STATUS_LABELS, h, time } from '../dom.js';

/** Events in time order: task created, step transitions, task finished. */
export function timelineEvents(t, steps) {
  const events = [{ at: t.created_at, text: 'Task created', status: 'pending' }];
  for (const st of steps) {
    for (const tr of st.transitions || []) {
      // A step's creation as pending is the task's creation: one line says it.
      if (tr.from === null && tr.to === 'pending') continue;
      events.push({
        at: tr.at,
        step: st.name,
        text: `${STATUS_LABELS[tr.from] || tr.from || 'new'} → ${STATUS_LABELS[tr.to] || tr.to}`,
        attempt: tr.attempt,
        error: tr.error,
        status: tr.to,
      });
    }
  }
  if (t.completed_at) {
    events.push({
      at: t.completed_at,
      text: `Task ${STATUS_LABELS[t.status] || t.status}`,
      status: t.status,
    });
  }
  // Stable: transitions recorded in the same millisecond keep their recorded order.
  return events
    .map((e, i) => ({ ...e, i }))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.i - b.i);
}

/** One <li> of the timeline. */
export function timelineItem(e) {
  return h(
    'li',
    { class: `status-${e.status}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    time(e.at, { ms: true }),
    h(
      'span',
      { class: 'what' },
      e.step ? [h('code', null, e.step), ': '] : null,
      e.text,
      e.attempt ? h('span', { class: 'muted' }, ` (attempt ${e.attempt})`) : null,
      e.error ? h('div', { class: 'error-text small' }, e.error.message || String(e.error)) : null,
    ),
  );
}
