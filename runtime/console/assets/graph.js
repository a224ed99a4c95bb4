// The blueprint graph: an SVG laid out by Graphviz on the server. Nodes
// are found by their <title> (the state's name), edges by "from->to".

import { h, fill } from './lib.js';

const SVGNS = 'http://www.w3.org/2000/svg';

export async function loadGraph(container, name, version) {
  const q = version ? `?version=${encodeURIComponent(version)}` : '';
  const res = await fetch(`/console/api/graph/${encodeURIComponent(name)}${q}`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`graph of ${name}: ${res.status} ${res.statusText}`);
  const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.nodeName !== 'svg') throw new Error(`graph of ${name}: not an SVG`);
  svg.querySelectorAll('script, foreignObject').forEach((n) => n.remove());
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `state graph of ${name}`);
  const imported = document.importNode(svg, true);
  fill(container, imported);
  return new Graph(imported);
}

export class Graph {
  constructor(svg) {
    this.svg = svg;
    this.nodes = new Map();
    this.edges = new Map();
    for (const g of svg.querySelectorAll('g.node')) {
      const t = g.querySelector('title');
      // The entry point is a point node named (start), with more
      // parentheses when a state has that name.
      if (t && !/^\(+start\)+$/.test(t.textContent)) { this.nodes.set(t.textContent, g); g.setAttribute('data-state', t.textContent); }
    }
    for (const g of svg.querySelectorAll('g.edge')) {
      const t = g.querySelector('title');
      if (t) this.edges.set(t.textContent, g);
    }
  }

  // states makes each state node a button: focusable, with a label and
  // Enter/Space to activate.
  states(onPick) {
    for (const [name, g] of this.nodes) {
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      const pick = () => onPick(name);
      g.addEventListener('click', pick);
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); }
      });
    }
  }

  select(name) {
    for (const [n, g] of this.nodes) g.classList.toggle('selected', n === name);
  }

  // counts draws a badge with the number of jobs on each state holding
  // any, and labels each node for screen readers.
  counts(states) {
    this.svg.querySelectorAll('.count-badge').forEach((n) => n.remove());
    for (const [name, g] of this.nodes) {
      const s = (states && states[name]) || {};
      const n = s.count || 0;
      const times = s.samples ? `, p50 ${Math.round(s.p50_ms)} ms, p95 ${Math.round(s.p95_ms)} ms` : '';
      g.setAttribute('aria-label', `state ${name}: ${n} job${n === 1 ? '' : 's'} now${times}`);
      g.setAttribute('data-count', String(n));
      if (!n) continue;
      const box = g.getBBox();
      const label = String(n);
      const w = 10 + 7 * label.length;
      const badge = document.createElementNS(SVGNS, 'g');
      badge.setAttribute('class', 'count-badge');
      badge.setAttribute('aria-hidden', 'true');
      const rect = document.createElementNS(SVGNS, 'rect');
      rect.setAttribute('x', box.x + box.width - w / 2);
      rect.setAttribute('y', box.y - 9);
      rect.setAttribute('width', w);
      rect.setAttribute('height', 18);
      rect.setAttribute('rx', 9);
      const text = document.createElementNS(SVGNS, 'text');
      text.setAttribute('x', box.x + box.width);
      text.setAttribute('y', box.y + 4);
      text.setAttribute('text-anchor', 'middle');
      text.textContent = label;
      badge.append(rect, text);
      g.append(badge);
    }
  }

  // path highlights the states and transitions a job went through, and
  // the state it is in now.
  path(timeline, current) {
    const visit = (name) => { const g = this.nodes.get(name); if (g) g.classList.add('visited'); };
    let first = true;
    for (const e of timeline) {
      if (e.previous_state && e.next_state) {
        visit(e.previous_state);
        visit(e.next_state);
        const edge = this.edges.get(`${e.previous_state}->${e.next_state}`);
        if (edge) edge.classList.add('visited');
      }
      if (e.state) {
        visit(e.state);
        if (first) {
          const edge = [...this.edges.entries()].find(([k]) => k.endsWith(`->${e.state}`) && k.startsWith('(start)'));
          if (edge) edge[1].classList.add('visited');
          first = false;
        }
      }
    }
    const g = this.nodes.get(current);
    if (g) { g.classList.add('current'); g.setAttribute('aria-current', 'step'); }
  }
}

export function legend() {
  return h('p', { class: 'hint' }, 'Badges count the jobs in each state now. Select a state (click, or Tab then Enter) to list its jobs.');
}
