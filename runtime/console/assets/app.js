// The console's pages, routed by the URL's fragment (#/jobs/ID), so that
// every page has its own address and the server serves one document.

import {
  h, fill, api, session, loadSession, setUnauthorized, fmtTime, fmtAgo, fmtMs, statusBadge, short,
  jsonView, throttle, table, errorBox,
} from './lib.js';
import { loadGraph, legend } from './graph.js';
import { schemaForm } from './form.js';

const main = document.getElementById('main');
const announce = document.getElementById('announce');

// ---- page life: each page registers what to stop when it is left ----
let cleanups = [];
function onLeave(fn) { cleanups.push(fn); }
function leave() { for (const fn of cleanups) { try { fn(); } catch (e) { /* ignore */ } } cleanups = []; }

function every(ms, fn) { const t = setInterval(fn, ms); onLeave(() => clearInterval(t)); }

// ---- live updates: one WebSocket, batched by the server ----
const liveListeners = new Set();
let socket = null;
let liveWanted = false;
let retry = 1000;
function onLive(fn) { liveListeners.add(fn); onLeave(() => liveListeners.delete(fn)); }
function startLive() {
  liveWanted = true;
  if (socket) return;
  const dot = document.getElementById('live-dot');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/api/live`);
  socket = ws;
  ws.addEventListener('open', () => { retry = 1000; dot.textContent = 'live'; dot.classList.add('on'); });
  ws.addEventListener('close', () => {
    dot.textContent = 'reconnecting';
    dot.classList.remove('on');
    if (socket === ws) socket = null;
    if (liveWanted) {
      setTimeout(() => { if (liveWanted) startLive(); }, retry);
      retry = Math.min(retry * 2, 30000);
      // What happened while disconnected: the pages reload what they show.
      for (const fn of liveListeners) fn({ resync: true, jobs: [], blueprints: [], count: 0 });
    }
  });
  ws.addEventListener('message', (ev) => {
    let batch;
    try { batch = JSON.parse(ev.data); } catch (e) { return; }
    for (const fn of liveListeners) fn(batch);
  });
}
function stopLive() {
  liveWanted = false;
  if (socket) { socket.close(); socket = null; }
}

// ---- routing ----
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/blueprints';
  const [path, qs] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(qs || '') };
}

function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }

function setPage(title, nav, ...content) {
  document.title = `${title} · Avtomatika console`;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  fill(main, ...content);
}

let firstRoute = true;
async function route() {
  leave();
  if (!session.loaded) {
    let ok;
    try { ok = await loadSession(); } catch (e) { setPage('Error', '', errorBox(e)); return; }
    if (!ok) { loginPage(); return; }
  }
  document.getElementById('who').textContent = session.client ? `client: ${session.client}` : (session.open ? 'open (no client tokens configured)' : '');
  document.getElementById('logout').hidden = session.open;
  startLive();
  const { parts, query } = parseHash();
  try {
    if (parts[0] === 'blueprints' && parts[1] && parts[2] === 'start') await startPage(parts[1]);
    else if (parts[0] === 'blueprints' && parts[1]) await blueprintPage(parts[1]);
    else if (parts[0] === 'blueprints') await blueprintsPage();
    else if (parts[0] === 'jobs' && parts[1]) await jobPage(parts[1]);
    else if (parts[0] === 'jobs') await jobsPage(query);
    else if (parts[0] === 'workers') await workersPage();
    else setPage('Not found', '', h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/blueprints' }, 'Blueprints')));
  } catch (e) {
    if (e.status === 401) return;
    setPage('Error', '', h('h1', {}, 'Something went wrong'), errorBox(e));
  }
  if (!firstRoute) main.focus();
  firstRoute = false;
}

setUnauthorized(() => { session.loaded = false; stopLive(); loginPage(); });

// ---- sign in ----
function loginPage() {
  leave();
  document.getElementById('who').textContent = '';
  document.getElementById('logout').hidden = true;
  const err = h('p', { class: 'field-error', id: 'login-err', role: 'alert' });
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, 'aria-describedby': 'login-err' });
  const form = h('form', { class: 'login panel' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This orchestrator has client tokens configured. Sign in with your client token; the console then shows your jobs only.'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Client token'), input, err),
    h('button', { class: 'btn', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const res = await fetch('/console/login', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: input.value }),
    });
    if (res.ok) {
      input.value = '';
      await loadSession();
      route();
      return;
    }
    const body = await res.json().catch(() => ({}));
    err.textContent = (body.error && body.error.message) || `sign-in failed (${res.status})`;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  });
  setPage('Sign in', '', form);
  input.focus();
}

document.getElementById('logout').addEventListener('click', async () => {
  try { await api('/console/logout', { method: 'POST' }); } catch (e) { /* signed out anyway */ }
  session.loaded = false;
  stopLive();
  loginPage();
});

// ---- blueprints ----
async function blueprintsPage() {
  const [{ data: list }, { data: st }] = await Promise.all([api('/console/api/v1/blueprints'), api('/console/api/stats')]);
  const tbody = [];
  const running = new Map();
  for (const b of list.blueprints) {
    const cell = h('td', { class: 'num', 'data-running': b.name }, String((st.blueprints[b.name] || {}).running || 0));
    running.set(b.name, cell);
    tbody.push(h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: `#/blueprints/${encodeURIComponent(b.name)}` }, b.name)),
      h('td', {}, b.endpoint ? h('code', {}, `POST ${b.endpoint}`) : h('span', { class: 'muted' }, 'none (child only)')),
      h('td', {}, h('code', { title: b.version }, short(b.version, 12))),
      h('td', {}, h('code', {}, b.file)),
      cell,
      h('td', {}, b.endpoint ? h('a', { class: 'btn secondary', href: `#/blueprints/${encodeURIComponent(b.name)}/start` }, 'Start a job', h('span', { class: 'sr-only' }, ` of ${b.name}`)) : null)));
  }
  const refused = h('div', { id: 'refused' });
  const showRefused = (findings) => {
    fill(refused);
    if (!findings || !findings.length) return;
    refused.append(h('div', { class: 'panel alert', role: 'alert' },
      h('h2', {}, 'The last reload was refused'),
      h('p', {}, 'The blueprints folder changed but does not lint clean; the versions listed below keep running. Findings:'),
      h('ul', {}, findings.map((f) => h('li', { class: 'finding' },
        h('code', {}, `${f.file}:${f.line}:${f.column}`), ' ', h('strong', {}, f.rule), ': ', f.message)))));
  };
  showRefused(list.refused_reload);
  setPage('Blueprints', 'blueprints',
    h('h1', {}, 'Blueprints'),
    refused,
    list.blueprints.length
      ? table(['Name', 'Endpoint', 'Version', 'File', h('th', { scope: 'col', class: 'num' }, 'Jobs running'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions'))], tbody, 'Loaded blueprints')
      : h('p', {}, 'No blueprints are loaded. Put blueprint YAML files in the blueprints folder.'));
  const refresh = throttle(async () => {
    const { data } = await api('/console/api/stats');
    for (const [name, cell] of running) cell.textContent = String((data.blueprints[name] || {}).running || 0);
  }, 500);
  onLive(() => refresh());
  onLeave(() => refresh.cancel());
  every(5000, async () => {
    try { const { data } = await api('/console/api/v1/blueprints'); showRefused(data.refused_reload); } catch (e) { /* next time */ }
  });
}

async function findBlueprint(name) {
  const { data } = await api('/console/api/v1/blueprints');
  const b = data.blueprints.find((x) => x.name === name);
  if (!b) throw new Error(`no blueprint ${name}`);
  return b;
}

async function blueprintPage(name) {
  const b = await findBlueprint(name);
  const holder = h('div', { class: 'graph', id: 'graph' }, 'Laying out…');
  const statsBody = h('tbody');
  const picked = h('section', { id: 'state-jobs', 'aria-live': 'polite' });
  setPage(name, 'blueprints',
    h('h1', {}, `Blueprint ${name}`),
    h('p', { class: 'sub' }, b.description || '', ' ', b.endpoint ? h('code', {}, `POST ${b.endpoint}`) : null,
      ' · version ', h('code', {}, short(b.version, 12)), ' · ', h('code', {}, b.file)),
    h('div', { class: 'actions' },
      b.endpoint ? h('a', { class: 'btn', href: `#/blueprints/${encodeURIComponent(name)}/start` }, 'Start a job') : null,
      h('a', { class: 'btn secondary', href: `#/jobs?blueprint=${encodeURIComponent(name)}` }, 'Jobs of this blueprint')),
    legend(), holder,
    h('h2', {}, 'States now'),
    table(['State', h('th', { scope: 'col', class: 'num' }, 'Jobs now'), h('th', { scope: 'col', class: 'num' }, 'p50 time in state'), h('th', { scope: 'col', class: 'num' }, 'p95 time in state'), h('th', { scope: 'col', class: 'num' }, 'Stays measured')], statsBody, 'Jobs per state'),
    picked);
  const graph = await loadGraph(holder, name);
  let current = null;
  const pick = async (state) => {
    current = state;
    graph.select(state);
    const { data } = await api(`/console/api/stats/jobs?blueprint=${encodeURIComponent(name)}&state=${encodeURIComponent(state)}`);
    fill(picked, h('h2', { id: 'state-jobs-title' }, `Jobs in ${state} now (${data.length})`),
      data.length
        ? table(['Job', 'Status', 'In this state since'], data.map((j) => h('tr', {},
          h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, class: 'mono' }, j.id)),
          h('td', {}, statusBadge(j.status)), h('td', {}, fmtTime(j.since / 1000)))), `Jobs in ${state}`)
        : h('p', { class: 'muted' }, 'No job is in this state now.'));
  };
  graph.states(pick);
  const states = [...graph.nodes.keys()];
  const refresh = async () => {
    const { data } = await api('/console/api/stats');
    const bs = (data.blueprints[name] || { states: {} }).states;
    graph.counts(bs);
    fill(statsBody, ...states.map((s) => {
      const x = bs[s] || {};
      return h('tr', {},
        h('th', { scope: 'row' }, h('button', { type: 'button', class: 'btn secondary', onclick: () => pick(s), 'data-state-button': s }, s)),
        h('td', { class: 'num', 'data-count-for': s }, String(x.count || 0)),
        h('td', { class: 'num' }, x.samples ? fmtMs(x.p50_ms) : '—'),
        h('td', { class: 'num' }, x.samples ? fmtMs(x.p95_ms) : '—'),
        h('td', { class: 'num' }, String(x.samples || 0)));
    }));
  };
  await refresh();
  const later = throttle(async () => { await refresh(); if (current) await pick(current); }, 500);
  onLive((batch) => { if (batch.resync || batch.blueprints.includes(name)) later(); });
  onLeave(() => later.cancel());
}

// ---- start a job ----
async function startPage(name) {
  const b = await findBlueprint(name);
  if (!b.endpoint) throw new Error(`${name} has no endpoint: it runs only as a child of another blueprint`);
  const f = schemaForm(b.input_schema);
  const submit = h('button', { class: 'btn', type: 'submit' }, 'Start the job');
  const form = h('form', { novalidate: true, id: 'start-form' }, f.el, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const { data, ok } = f.value();
    if (!ok) { f.focusFirstError(); return; }
    submit.disabled = true;
    try {
      const path = b.endpoint.replace(/^\/api\/v1/, '/console/api/v1');
      const { data: res } = await api(path, { method: 'POST', body: { initial_data: data } });
      announce.textContent = `Job ${res.job_id} started`;
      go(`#/jobs/${encodeURIComponent(res.job_id)}`);
    } catch (e) {
      f.showErrors(e.details, e.message);
      f.focusFirstError();
    } finally {
      submit.disabled = false;
    }
  });
  setPage(`Start ${name}`, 'blueprints',
    h('h1', {}, `Start a job of ${name}`),
    h('p', { class: 'sub' }, 'The form follows the blueprint\'s input schema; ', h('span', { class: 'req' }, '*'), ' marks a required field.'),
    form);
  const first = form.querySelector('input, select, textarea');
  if (first) first.focus();
}

// ---- jobs ----
// The filters map one to one onto the search parameters of GET
// /api/v1/jobs (docs/history.md): status (several), blueprint, state,
// error_code, worker, parent, created_after/before, ended_after/before,
// meta.KEY=VALUE and sort; pages follow the X-Next-Cursor header.
const STATUSES = ['pending', 'running', 'waiting_for_worker', 'waiting_for_human', 'waiting_for_parallel_tasks', 'waiting_for_child',
  'waiting', 'awaiting_retry', 'finished', 'failed', 'quarantined', 'cancelled', 'error'];
const ERROR_CODES = ['END_FAILURE', 'PERMANENT_ERROR', 'TRANSIENT_ERROR', 'TIMEOUT_ERROR', 'INVALID_INPUT_ERROR', 'DISPATCH_TIMEOUT',
  'APPROVAL_TIMEOUT', 'CHILD_FAILED', 'UNHANDLED_STATUS', 'TRANSITION_LIMIT', 'EXPRESSION_ERROR', 'CANCELLED'];
const FILTERS = [
  ['blueprint', 'Blueprint', 'text', '', 'q-blueprints'],
  ['state', 'State', 'text', '', null],
  ['error_code', 'Error code', 'text', 'e.g. PERMANENT_ERROR', 'q-codes'],
  ['worker', 'Worker', 'text', 'a worker id', null],
  ['created_after', 'Created after', 'datetime-local', '', null],
  ['created_before', 'Created before', 'datetime-local', '', null],
  ['ended_after', 'Ended after', 'datetime-local', '', null],
  ['ended_before', 'Ended before', 'datetime-local', '', null],
  ['parent', 'Parent job', 'text', '', null],
  ['meta', 'Metadata (KEY=VALUE)', 'text', 'e.g. order=42', null],
];
const PAGE = 50;

function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// apiQuery turns the page's filters into the API's query: the names are
// passed through; meta KEY=VALUE becomes meta.KEY=VALUE; times are
// RFC 3339 already.
function apiQuery(query) {
  const out = new URLSearchParams();
  for (const [k, v] of query) {
    if (!v) continue;
    if (k === 'meta') {
      for (const pair of v.split(',')) {
        const i = pair.indexOf('=');
        if (i > 0) out.append(`meta.${pair.slice(0, i).trim()}`, pair.slice(i + 1).trim());
      }
    } else if (k !== 'cursor' && k !== 'offset' && k !== 'limit') out.append(k, v);
  }
  return out;
}

async function jobsPage(query) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search jobs', id: 'jobs-filters' });
  const picked = new Set((query.get('status') || '').split(',').filter(Boolean));
  form.append(h('fieldset', { class: 'statuses', id: 'q-status' }, h('legend', {}, 'Status'),
    STATUSES.map((st) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'status', value: st, checked: picked.has(st) }), ` ${st.replaceAll('_', ' ')}`))));
  const bpList = h('datalist', { id: 'q-blueprints' });
  form.append(bpList, h('datalist', { id: 'q-codes' }, ERROR_CODES.map((c) => h('option', { value: c }))));
  for (const [name, label, type, ph, list] of FILTERS) {
    const id = `q-${name}`;
    let v = query.get(name) || '';
    if (type === 'datetime-local' && v) v = toLocalInput(v);
    form.append(h('div', {}, h('label', { for: id }, label), h('input', { id, name, type, value: v, placeholder: ph || null, list })));
  }
  form.append(h('div', {}, h('label', { for: 'q-sort' }, 'Sort'),
    h('select', { id: 'q-sort', name: 'sort' }, [['-created', 'newest first'], ['created', 'oldest first'], ['-ended', 'ended, latest first'], ['ended', 'ended, earliest first']]
      .map(([v, l]) => h('option', { value: v, selected: (query.get('sort') || '-created') === v ? true : null }, l)))));
  form.append(h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'submit', id: 'q-search' }, 'Search'),
    h('a', { class: 'btn secondary', href: '#/jobs' }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const statuses = [...form.querySelectorAll('input[name=status]:checked')].map((el) => el.value);
    if (statuses.length) q.set('status', statuses.join(','));
    for (const el of form.elements) {
      if (!el.name || !el.value || el.name === 'status') continue;
      if (el.type === 'datetime-local') q.set(el.name, new Date(el.value).toISOString());
      else if (!(el.name === 'sort' && el.value === '-created')) q.set(el.name, el.value.trim());
    }
    go(`#/jobs${q.toString() ? `?${q}` : ''}`);
  });
  api('/console/api/v1/blueprints').then(({ data }) => fill(bpList, data.blueprints.map((b) => h('option', { value: b.name })))).catch(() => {});

  const tbody = h('tbody', { id: 'jobs-body' });
  const status = h('p', { class: 'muted', id: 'jobs-status', 'aria-live': 'polite' });
  const more = h('button', { class: 'btn secondary', type: 'button', id: 'jobs-more', hidden: true }, 'More');
  const problem = h('div', { id: 'jobs-error' });
  const rows = new Map();
  const q = apiQuery(query);
  let cursor = '';
  let shown = PAGE;

  const row = (j) => h('tr', { 'data-job': j.id },
    h('td', {}, h('a', { class: 'mono', href: `#/jobs/${encodeURIComponent(j.id)}`, title: j.id, 'aria-label': `job ${j.id}` }, short(j.id))),
    h('td', {}, h('a', { href: `#/blueprints/${encodeURIComponent(j.blueprint_name)}` }, j.blueprint_name)),
    h('td', { 'data-cell': 'state' }, j.current_state),
    h('td', { 'data-cell': 'status' }, statusBadge(j.status)),
    h('td', { 'data-cell': 'error' }, j.error && j.error.code ? h('code', {}, j.error.code) : ''),
    h('td', {}, fmtTime(j.created_at)),
    h('td', { 'data-cell': 'updated' }, fmtTime(j.updated_at)));
  const fetchPage = async (limit, after) => {
    const pq = new URLSearchParams(q);
    pq.set('limit', String(limit));
    if (after) pq.set('cursor', after);
    const { data, headers } = await api(`/console/api/v1/jobs?${pq}`);
    return { data, next: headers.get('X-Next-Cursor') || '' };
  };
  const tell = () => {
    status.textContent = `${rows.size} job${rows.size === 1 ? '' : 's'} shown${cursor ? ', more match' : ''} · updated ${new Date().toLocaleTimeString()}`;
    more.hidden = !cursor;
  };
  // load reads the first `shown` jobs again (live reloads keep what
  // "More" added, up to the API's page limit of 1,000).
  const load = async () => {
    let page;
    try { page = await fetchPage(Math.min(shown, 1000), ''); } catch (e) { fill(problem, errorBox(e)); return; }
    fill(problem);
    rows.clear();
    fill(tbody, ...page.data.map((j) => { const r = row(j); rows.set(j.id, r); return r; }));
    cursor = page.next;
    tell();
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const page = await fetchPage(PAGE, cursor);
      for (const j of page.data) {
        if (rows.has(j.id)) continue;
        const r = row(j);
        rows.set(j.id, r);
        tbody.append(r);
      }
      cursor = page.next;
      shown = rows.size;
      tell();
    } catch (e) { fill(problem, errorBox(e)); } finally { more.disabled = false; }
  });

  setPage('Jobs', 'jobs', h('h1', {}, 'Jobs'), form, problem, status,
    table(['Job', 'Blueprint', 'State', 'Status', 'Error', 'Created', 'Updated'], tbody, 'Jobs'), h('div', { class: 'pager' }, more));
  await load();

  const refresh = throttle(load, 500);
  onLeave(() => refresh.cancel());
  onLive((batch) => {
    for (const c of batch.jobs || []) {
      const r = rows.get(c.id);
      if (!r) continue;
      r.querySelector('[data-cell=state]').textContent = c.state;
      r.querySelector('[data-cell=status]').replaceChildren(statusBadge(c.status));
      r.querySelector('[data-cell=updated]').textContent = fmtTime(c.updated_at);
    }
    refresh();
  });
}

// timelineItem is one event: what, where, when, by whom, and its details.
function timelineItem(e) {
  const moves = e.previous_state || e.next_state ? ` ${e.previous_state || ''} → ${e.next_state || ''}` : '';
  const ms = e.timestamp ? `.${String(Math.round((e.timestamp % 1) * 1000)).padStart(3, '0')}` : '';
  return h('li', {},
    h('strong', {}, e.event_type), moves, e.state && !moves ? ` in ${e.state}` : '',
    ' · ', h('time', {}, fmtTime(e.timestamp).replace('Z', `${ms}Z`)),
    e.worker_id ? ` · worker ${e.worker_id}` : '', e.attempt_number ? ` · attempt ${e.attempt_number}` : '',
    e.origin_task_id ? h('span', {}, ' · task ', h('code', {}, e.origin_task_id)) : null,
    e.detail && Object.keys(e.detail).length ? jsonView(e.detail, `details of ${e.event_type}`) : null);
}

// taskStateText names a task's store state as the job view does: a
// leased task is running.
function taskStateText(state) {
  return state === 'leased' ? 'running' : state;
}

// fmtDeadline is a time and how far away it is: "… (in 42 s)".
function fmtDeadline(sec) {
  if (!sec) return '—';
  const s = Math.round(sec - Date.now() / 1000);
  return `${fmtTime(sec)} (${s >= 0 ? `in ${s} s` : `${-s} s ago`})`;
}

async function jobPage(id) {
  const enc = encodeURIComponent(id);
  const [{ data: d }, { data: tl }] = await Promise.all([api(`/console/api/jobs/${enc}`), api(`/console/api/v1/jobs/${enc}/history`)]);
  const holder = h('div', { class: 'graph', id: 'graph' }, 'Laying out…');
  const msg = h('p', { role: 'status', id: 'action-msg' });
  const buttons = h('div', { class: 'actions', id: 'job-actions' });
  const act = async (what, fn) => {
    for (const b of buttons.querySelectorAll('button')) b.disabled = true;
    msg.textContent = '';
    try {
      await fn();
      msg.textContent = `${what}: done`;
      announce.textContent = `${what}: done`;
      await reload();
    } catch (e) {
      msg.textContent = `${what}: ${e.message}`;
      for (const b of buttons.querySelectorAll('button')) b.disabled = false;
    }
  };
  const approve = (decision) => act(decision === 'approved' ? 'Approve' : 'Reject',
    () => api(`/console/api/v1/jobs/${enc}/approval`, { method: 'POST', body: { decision } }));
  const drawActions = (det, events) => {
    fill(buttons);
    const redrivenAs = events.filter((e) => e.event_type === 'redriven' && e.detail && e.detail.job_id).map((e) => e.detail.job_id);
    const redriveOf = det.metadata && typeof det.metadata.redrive_of === 'string' ? det.metadata.redrive_of : '';
    if (redriveOf || redrivenAs.length) {
      buttons.append(h('p', { id: 'redrive-links', style: 'flex-basis:100%;margin:0' },
        redriveOf ? h('span', { id: 'redrive-of' }, 'A redrive of ', h('a', { class: 'mono', href: `#/jobs/${encodeURIComponent(redriveOf)}` }, redriveOf), redrivenAs.length ? ' · ' : '') : null,
        redrivenAs.length ? h('span', { id: 'redriven-as' }, 'Redriven as ', redrivenAs.map((n, i) => [i ? ', ' : '', h('a', { class: 'mono', href: `#/jobs/${encodeURIComponent(n)}` }, n)])) : null));
    }
    if (det.actions.includes('approve')) {
      buttons.append(h('div', { class: 'panel notice', style: 'flex-basis:100%' },
        h('p', { class: 'approval-msg', id: 'approval-message' }, det.approval_message || 'This job waits for an approval.'),
        h('div', { class: 'actions' },
          h('button', { class: 'btn', type: 'button', id: 'approve', onclick: () => approve('approved') }, 'Approve'),
          h('button', { class: 'btn danger', type: 'button', id: 'reject', onclick: () => approve('rejected') }, 'Reject'))));
    }
    if (det.actions.includes('cancel')) {
      buttons.append(h('button', {
        class: 'btn secondary', type: 'button', id: 'cancel',
        onclick: () => { if (confirm(`Cancel job ${id}?`)) act('Cancel', () => api(`/console/api/v1/jobs/${enc}/cancel`, { method: 'POST' })); },
      }, 'Cancel the job'));
    }
    if (det.actions.includes('redrive')) {
      if (redriveForm) buttons.append(redriveForm);
      else buttons.append(h('button', { class: 'btn', type: 'button', id: 'redrive', onclick: () => openRedrive(det) }, 'Redrive'));
    }
  };
  // Redrive: the job runs again as a new job from the state where it
  // failed, on its own blueprint version or the current one, with its
  // input or an edited one (a JSON object, checked here before sending;
  // the server checks it against the input schema).
  let redriveForm = null;
  const openRedrive = (det) => {
    const current = h('input', { type: 'checkbox', id: 'redrive-current' });
    const edit = h('input', { type: 'checkbox', id: 'redrive-edit' });
    const input = h('textarea', { id: 'redrive-input', name: 'input', rows: 6, 'aria-describedby': 'redrive-input-err', hidden: true }, JSON.stringify(det.input, null, 2));
    const err = h('p', { class: 'field-error', id: 'redrive-input-err' });
    const general = h('p', { class: 'field-error', id: 'redrive-err', role: 'alert' });
    const submit = h('button', { class: 'btn', type: 'submit', id: 'redrive-submit' }, 'Redrive the job');
    const fieldError = (text) => { err.textContent = text; input.setAttribute('aria-invalid', 'true'); input.focus(); };
    edit.addEventListener('change', () => { input.hidden = !edit.checked; if (edit.checked) input.focus(); });
    const form = h('form', { class: 'panel', id: 'redrive-form', novalidate: true, style: 'flex-basis:100%' },
      h('h2', { style: 'margin-top:0' }, 'Redrive'),
      h('p', { class: 'hint' }, 'Runs the job again as a new job, from the state where it failed, with its input and what its states produced.'),
      h('div', { class: 'field' }, h('label', { for: 'redrive-current' }, current, ' Run on the current blueprint version (not the version the job ran)')),
      h('div', { class: 'field' }, h('label', { for: 'redrive-edit' }, edit, ' Edit the input'),
        h('label', { for: 'redrive-input', class: 'sr-only' }, 'Input (JSON object)'), input, err),
      general,
      h('div', { class: 'actions' }, submit,
        h('button', { class: 'btn secondary', type: 'button', id: 'redrive-close', onclick: () => { redriveForm = null; drawActions(det, shownEvents); } }, 'Close')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      general.textContent = '';
      input.removeAttribute('aria-invalid');
      const body = {};
      if (current.checked) body.current_version = true;
      if (edit.checked) {
        let v;
        try { v = JSON.parse(input.value); } catch (e) { fieldError(`not JSON: ${e.message}`); return; }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) { fieldError('must be a JSON object'); return; }
        body.input = v;
      }
      submit.disabled = true;
      try {
        const { data: nj } = await api(`/console/api/v1/jobs/${enc}/redrive`, { method: 'POST', body });
        redriveForm = null;
        fill(msg, 'Redriven as ', h('a', { class: 'mono', id: 'redrive-new', href: `#/jobs/${encodeURIComponent(nj.id)}` }, nj.id));
        announce.textContent = `Redriven as job ${nj.id}`;
        await reload();
      } catch (e) {
        if (edit.checked && /input/i.test(`${e.code} ${e.message}`)) fieldError(e.message);
        else general.textContent = e.message;
      } finally {
        submit.disabled = false;
      }
    });
    redriveForm = form;
    drawActions(det, shownEvents);
    current.focus();
  };
  const head = h('div');
  const tasks = h('div');
  const data = h('div', { class: 'grid2' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  let shownEvents = [];
  const draw = (det, events) => {
    fill(head,
      h('h1', {}, 'Job ', h('span', { class: 'mono' }, det.id)),
      h('p', { class: 'sub' }, statusBadge(det.status), ' in state ', h('strong', { id: 'job-state' }, det.state), ' · blueprint ',
        h('a', { href: `#/blueprints/${encodeURIComponent(det.blueprint)}` }, det.blueprint), ' version ', h('code', {}, short(det.blueprint_version, 12)),
        det.client ? ` · client ${det.client}` : '', ' · created ', fmtTime(det.created_at),
        det.finished_at ? ` · ended ${fmtTime(det.finished_at)}` : '',
        det.parent ? h('span', {}, ' · parent ', h('a', { href: `#/jobs/${encodeURIComponent(det.parent.job_id)}` }, short(det.parent.job_id))) : null,
        det.child_job_id ? h('span', {}, ' · child ', h('a', { href: `#/jobs/${encodeURIComponent(det.child_job_id)}` }, short(det.child_job_id))) : null),
      det.error ? h('div', { class: 'panel alert' }, h('strong', {}, det.error.code || 'error'), ': ', det.error.message || '') : null);
    shownEvents = events;
    drawActions(det, events);
    fill(tasks, h('h2', {}, 'Current tasks'), det.tasks.length
      ? table(['Task', 'Type', 'Attempt', 'State', 'Worker', 'Queued', 'Leased', 'Lease deadline'], det.tasks.map((t) => h('tr', { 'data-task': t.id },
        h('td', { class: 'mono' }, t.id), h('td', {}, t.type), h('td', { class: 'num task-attempt' }, String(t.attempt)),
        h('td', { class: 'task-state' }, taskStateText(t.state)),
        h('td', { class: 'task-worker' }, t.state === 'leased' && t.worker ? t.worker : '—'), h('td', {}, fmtTime(t.enqueued_at)),
        h('td', {}, t.state === 'leased' ? fmtTime(t.leased_at) : '—'),
        h('td', { class: 'task-deadline' }, t.state === 'leased' ? fmtDeadline(t.lease_until) : '—'))), 'Current tasks')
      : h('p', { class: 'muted' }, 'The job waits on no task now.'),
      det.approval ? h('section', { id: 'approval', 'aria-label': 'The approval the job waits on' },
        h('h2', {}, 'Waiting for approval'),
        h('p', { id: 'approval-question' }, det.approval.message || '(no message)'),
        h('p', {}, 'Choices: ', h('span', { id: 'approval-choices' }, (det.approval.choices || []).join(', ')),
          ' · deadline: ', h('span', { id: 'approval-deadline' }, det.approval.deadline ? fmtDeadline(det.approval.deadline) : 'none'))) : null,
      (det.child_job_ids || []).length ? h('p', { id: 'children' }, 'Child jobs: ', det.child_job_ids.map((c, i) =>
        [i ? ', ' : '', h('a', { href: `#/jobs/${encodeURIComponent(c)}` }, short(c))])) : null);
    fill(data,
      h('section', {}, h('h2', {}, 'Input'), jsonView(det.input, 'input')),
      h('section', {}, h('h2', {}, 'Result (history)'), jsonView(det.history, 'result'),
        det.result ? [h('h3', {}, 'Last task result'), jsonView(det.result, 'last task result')] : null));
    fill(timeline, ...events.map(timelineItem));
  };
  setPage(`Job ${short(id)}`, 'jobs', head, msg, buttons, holder, tasks, data, h('h2', {}, 'Timeline'), timeline);
  draw(d, tl);
  let graph = await loadGraph(holder, d.blueprint, d.blueprint_version);
  graph.path(tl, d.state);
  let shownState = d.state;
  let shownSteps = d.steps;
  async function reload() {
    const [{ data: det }, { data: events }] = await Promise.all([api(`/console/api/jobs/${enc}`), api(`/console/api/v1/jobs/${enc}/history`)]);
    draw(det, events);
    if (det.state !== shownState || det.steps !== shownSteps) {
      graph = await loadGraph(holder, det.blueprint, det.blueprint_version);
      graph.path(events, det.state);
      shownState = det.state;
      shownSteps = det.steps;
    }
  }
  const later = throttle(reload, 500);
  onLeave(() => later.cancel());
  onLive((batch) => { if (batch.resync || (batch.jobs || []).some((c) => c.id === id)) later(); });
}

// ---- workers and queues ----
async function workersPage() {
  const body = h('div');
  const load = async () => {
    const [{ data: ws }, { data: qs }] = await Promise.all([api('/console/api/v1/workers'), api('/console/api/queues')]);
    const byType = new Map();
    for (const w of ws) {
      const t = w.worker_type || '(no type)';
      if (!byType.has(t)) byType.set(t, []);
      byType.get(t).push(w);
    }
    const unserved = qs.queues.filter((q) => q.unserved);
    fill(body,
      unserved.length ? h('div', { class: 'panel alert', role: 'alert', id: 'unserved' },
        h('strong', {}, 'No worker serves: '), unserved.map((q) => q.type).join(', '),
        ' — jobs wait on these task types but no registered worker lists them among its skills.') : null,
      h('h2', {}, 'Queues'),
      qs.queues.length
        ? table(['Task type', h('th', { scope: 'col', class: 'num' }, 'Queued'), h('th', { scope: 'col', class: 'num' }, 'Running'), h('th', { scope: 'col', class: 'num' }, 'Oldest waiting'), h('th', { scope: 'col', class: 'num' }, 'Workers'), 'Flag'],
          qs.queues.map((q) => h('tr', { 'data-queue': q.type },
            h('th', { scope: 'row' }, h('code', {}, q.type)), h('td', { class: 'num' }, String(q.queued)), h('td', { class: 'num' }, String(q.leased)),
            h('td', { class: 'num' }, q.queued ? h('span', {}, fmtMs(q.oldest_wait_seconds * 1000), ' ', h('a', { href: `#/jobs/${encodeURIComponent(q.oldest_job)}` }, '(job)')) : '—'),
            h('td', { class: 'num' }, String(q.workers)),
            h('td', {}, q.unserved ? h('span', { class: 'flag' }, '⚠ no worker serves this type') : ''))), 'Queues per task type')
        : h('p', { class: 'muted' }, 'No job waits on a task now.'),
      qs.sampled ? h('p', { class: 'hint' }, 'Counted over a sample of the open tasks.') : null,
      h('h2', {}, `Workers (${ws.length})`),
      ws.length ? [...byType.entries()].sort().map(([t, list]) => h('section', {},
        h('h3', {}, t),
        table(['Worker', 'Status', 'Skills', h('th', { scope: 'col', class: 'num' }, 'In flight'), 'Tasks running', 'Last heartbeat'], list.map((w) => h('tr', { 'data-worker': w.worker_id },
          h('th', { scope: 'row', class: 'mono' }, w.worker_id), h('td', {}, w.status),
          h('td', {}, (w.skills || []).map((s, i) => [i ? ', ' : '', h('code', {}, s), (w.hot_skills || []).includes(s) ? ' (hot)' : ''])),
          h('td', { class: 'num' }, String(w.load || 0)),
          h('td', {}, ((qs.in_flight || {})[w.worker_id] || []).map((id, i) => [i ? ', ' : '', h('code', {}, short(id))])),
          h('td', {}, h('time', { datetime: w.last_seen, title: w.last_seen }, fmtAgo(Date.parse(w.last_seen) / 1000))))), `Workers of type ${t}`)))
        : h('p', { class: 'muted' }, 'No worker is registered.'));
  };
  setPage('Workers', 'workers', h('h1', {}, 'Workers and queues'), body);
  await load();
  const later = throttle(load, 1000);
  onLeave(() => later.cancel());
  every(3000, later);
  onLive(() => later());
}

window.addEventListener('hashchange', route);
route();
