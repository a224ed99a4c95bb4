// Small helpers shared by the pages: building elements (text is always
// set as text, never parsed as HTML), the API client, formatting, the
// collapsible JSON view and a throttle.

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

// fill replaces an element's children, with the same rules as h: null,
// undefined and false are skipped, arrays flattened, the rest text.
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false)
    .map((k) => (k instanceof Node ? k : String(k))));
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const session = { open: true, csrf: '', client: '', loaded: false };
let onUnauthorized = () => {};
export function setUnauthorized(fn) { onUnauthorized = fn; }

export async function loadSession() {
  const res = await fetch('/console/api/session', { credentials: 'same-origin' });
  if (res.status === 401) {
    session.loaded = false;
    return false;
  }
  const s = await res.json();
  Object.assign(session, s, { loaded: true });
  return true;
}

// api calls a console route: GET by default; a body is sent as JSON; any
// other method carries the CSRF token (fetched again once if stale).
export async function api(path, { method = 'GET', body } = {}) {
  const send = () => {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = session.csrf;
    return fetch(path, opts);
  };
  let res = await send();
  if (res.status === 403 && method !== 'GET') {
    const e = await res.clone().json().catch(() => ({}));
    if (e.error && e.error.code === 'csrf' && await loadSession()) res = await send();
  }
  const ct = res.headers.get('Content-Type') || '';
  const data = ct.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (res.status === 401) onUnauthorized();
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || '', e.message || res.statusText, e.details);
  }
  return { data, headers: res.headers, status: res.status };
}

export function fmtTime(sec) {
  if (!sec) return '—';
  const d = new Date(sec * 1000);
  return d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function fmtAgo(sec) {
  if (!sec) return '—';
  const s = Math.max(0, Date.now() / 1000 - sec);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

export function fmtMs(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}

export function statusBadge(s) {
  return h('span', { class: `badge s-${s}` }, String(s || '').replaceAll('_', ' '));
}

export function short(id, n = 8) { return id && id.length > n ? id.slice(0, n) : id; }

// jsonView is a collapsible tree of a JSON value: the top level open,
// nested objects open when small.
export function jsonView(v, label) {
  const node = (x, depth) => {
    if (x === null || typeof x !== 'object') {
      const t = x === null ? 'null' : typeof x;
      return h('span', { class: `j-${t}` }, JSON.stringify(x));
    }
    const entries = Array.isArray(x) ? x.map((y, i) => [i, y]) : Object.entries(x);
    const small = entries.length <= 8 && JSON.stringify(x).length < 400;
    const d = h('details', { open: depth === 0 || small ? true : null },
      h('summary', {}, Array.isArray(x) ? `array [${entries.length}]` : `object {${entries.length}}`));
    const ul = h('ul');
    for (const [k, y] of entries) ul.append(h('li', {}, h('span', { class: 'j-key' }, `${k}: `), node(y, depth + 1)));
    d.append(ul);
    return d;
  };
  const root = node(v, 0);
  if (root.tagName === 'DETAILS') {
    root.classList.add('json');
    if (label) root.setAttribute('aria-label', label);
    return root;
  }
  return h('div', { class: 'json mono' }, root);
}

// throttle runs fn at most once per ms; calls in between collapse into
// one trailing run.
export function throttle(fn, ms) {
  let timer = null; let again = false; let last = 0;
  const run = () => {
    if (timer) { again = true; return; }
    timer = setTimeout(async () => {
      last = Date.now();
      try { await fn(); } catch (e) { /* the page shows its own errors */ }
      timer = null;
      if (again) { again = false; run(); }
    }, Math.max(0, last + ms - Date.now()));
  };
  run.cancel = () => { clearTimeout(timer); timer = null; again = false; };
  return run;
}

export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => (typeof x === 'string' ? h('th', { scope: 'col' }, x) : x)))),
    rows instanceof HTMLTableSectionElement ? rows : h('tbody', {}, rows)));
}

export function errorBox(e) {
  return h('div', { class: 'panel alert', role: 'alert' }, e.message || String(e));
}
