// Draws a handler's DAG as inline SVG: one column per level, the steps of a level stacked
// (parallel steps side by side in the same column), edges as arrows from parent to child.

import { STATUS_LABELS, h, s } from './dom.js';

const NODE_W = 208;
const NODE_H = 52;
const GAP_X = 56;
const GAP_Y = 16;
const PAD = 8;
const MAX_CHARS = 24;
const MAX_SUB_CHARS = 30;

let counter = 0;

/** Levels from steps' `depends_on_steps` (longest path from a root), when no graph is given. */
export function levelsFromSteps(steps) {
  const parents = new Map(steps.map((st) => [st.name, st.depends_on_steps || []]));
  const level = new Map();
  const visit = (name, seen = new Set()) => {
    if (level.has(name)) return level.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const ps = (parents.get(name) || []).filter((p) => parents.has(p));
    const l = ps.length === 0 ? 0 : 1 + Math.max(...ps.map((p) => visit(p, seen)));
    level.set(name, l);
    return l;
  };
  const levels = [];
  for (const st of steps) {
    const l = visit(st.name);
    (levels[l] ||= []).push(st.name);
  }
  const edges = steps.flatMap((st) =>
    (st.depends_on_steps || []).map((from) => ({ from, to: st.name })),
  );
  return { levels: levels.filter(Boolean), edges };
}

const clip = (text, max = MAX_CHARS) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * Returns `{ element, update }`. `element` is a scrollable figure with the SVG; `update(status)`
 * recolours the nodes from a `{ stepName: status }` map without redrawing. `detail(name)` gives
 * a node's second line when no status is known (e.g. a template's retry policy).
 */
export function drawDag({ levels, edges }, { label, detail, status = {}, onSelect } = {}) {
  const id = `dag-${++counter}`;
  const rows = Math.max(1, ...levels.map((l) => l.length));
  const width = PAD * 2 + levels.length * NODE_W + Math.max(0, levels.length - 1) * GAP_X;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y;
  const pos = new Map();
  levels.forEach((names, col) => {
    // Centre short columns against the tallest one, so chains read as a straight line.
    const offset = ((rows - names.length) * (NODE_H + GAP_Y)) / 2;
    names.forEach((name, row) => {
      pos.set(name, { x: PAD + col * (NODE_W + GAP_X), y: PAD + offset + row * (NODE_H + GAP_Y) });
    });
  });

  const marker = s(
    'marker',
    {
      id: `${id}-arrow`,
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 8,
      markerHeight: 8,
      orient: 'auto-start-reverse',
    },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'dag-arrowhead' }),
  );

  const edgeEls = edges
    .filter((e) => pos.has(e.from) && pos.has(e.to))
    .map((e) => {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 2;
      const y2 = b.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      return s(
        'path',
        {
          class: 'dag-edge',
          d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
          'marker-end': `url(#${id}-arrow)`,
          dataset: { from: e.from, to: e.to },
        },
        s('title', null, `${e.from} → ${e.to}`),
      );
    });

  const nodes = new Map();
  for (const [name, p] of pos) {
    const st = status[name];
    const second = s('text', { x: 12, y: 38, class: 'dag-sub' });
    const g = s(
      'g',
      {
        class: `dag-node${st ? ` status-${st}` : ''}`,
        transform: `translate(${p.x},${p.y})`,
        dataset: { step: name, status: st || '' },
        tabindex: onSelect ? 0 : null,
        role: onSelect ? 'button' : null,
      },
      s('title', null, name),
      s('rect', { width: NODE_W, height: NODE_H, rx: 8, ry: 8 }),
      s('text', { x: 12, y: 21, class: 'dag-name' }, clip(label ? label(name) : name)),
      second,
    );
    if (onSelect) {
      g.addEventListener('click', () => onSelect(name));
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          onSelect(name);
        }
      });
    }
    nodes.set(name, { g, second });
  }

  const svg = s(
    'svg',
    {
      class: 'dag',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      // Interactive nodes are buttons in a group; otherwise the graph is one image described
      // by its edges (the steps table next to it holds the same facts as text).
      role: onSelect ? 'group' : 'img',
      'aria-label':
        `Dependency graph: ${pos.size} steps in ${levels.length} levels` +
        (onSelect || edgeEls.length === 0
          ? ''
          : `; ${edges.map((e) => `${e.from} to ${e.to}`).join(', ')}`),
    },
    s('defs', null, marker),
    s('g', { class: 'dag-edges' }, edgeEls),
    s(
      'g',
      { class: 'dag-nodes' },
      [...nodes.values()].map((n) => n.g),
    ),
  );

  function update(next) {
    for (const [name, { g, second }] of nodes) {
      const st = next[name] || '';
      const text = st ? STATUS_LABELS[st] || st : detail ? detail(name) : '';
      if (g.dataset.status !== st) {
        g.setAttribute('class', `dag-node${st ? ` status-${st}` : ''}`);
        g.dataset.status = st;
      }
      if (second.textContent !== clip(text, MAX_SUB_CHARS))
        second.textContent = clip(text, MAX_SUB_CHARS);
      if (onSelect) g.setAttribute('aria-label', `${name}${text ? `: ${text}` : ''}`);
    }
  }
  update(status);

  const element = h(
    'div',
    { class: 'dag-scroll', tabindex: 0, role: 'region', 'aria-label': 'Dependency graph' },
    svg,
  );
  return { element, update };
}

/** The legend: each status's colour with its name. */
export function legend(statuses) {
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Status colours' },
    statuses.map((st) =>
      h(
        'li',
        null,
        h('span', { class: `swatch status-${st}`, 'aria-hidden': 'true' }),
        STATUS_LABELS[st] || st,
      ),
    ),
  );
}
