// A form generated from a blueprint's input JSON Schema: one field per
// property (required marked, types, enums as choices, defaults filled
// in), checked here before sending and again by the server, whose
// findings are shown at the field they point to.

import { h } from './lib.js';

let seq = 0;

function typeOf(s) {
  if (!s) return 'any';
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null') || 'any';
  if (s.type) return s.type;
  if (s.enum) return typeof s.enum[0] === 'number' ? 'number' : 'string';
  if (s.properties) return 'object';
  return 'any';
}

// schemaForm returns {el, value(), showErrors(reasons), clearErrors()}.
// value() returns {data, errors}: errors by property name ('' for the
// whole object).
export function schemaForm(schema) {
  const el = h('div', { class: 'schema-form' });
  const fields = new Map();
  const required = new Set((schema && schema.required) || []);
  const props = (schema && schema.properties) || {};
  const names = Object.keys(props);
  const general = h('div', { class: 'field-error', id: `f${++seq}-general`, role: 'alert' });
  el.append(general);

  if (!schema || typeOf(schema) !== 'object' || (!names.length && schema.additionalProperties !== false)) {
    // No properties to draw: the whole input as JSON.
    const id = `f${++seq}`;
    const ta = h('textarea', { id, name: '', 'aria-describedby': `${id}-err` }, '{}');
    const err = h('p', { class: 'field-error', id: `${id}-err` });
    el.append(h('div', { class: 'field' }, h('label', { for: id }, 'Input (JSON object)'), ta, err));
    fields.set('', { kind: 'json-root', input: ta, err, schema: schema || {} });
  }

  for (const name of names) {
    const s = props[name] || {};
    const t = typeOf(s);
    const id = `f${++seq}`;
    const errId = `${id}-err`;
    const hintId = `${id}-hint`;
    const described = [s.description ? hintId : null, errId].filter(Boolean).join(' ');
    let input;
    let kind = t;
    if (s.enum) {
      kind = 'enum';
      input = h('select', { id, name, 'aria-describedby': described, 'aria-required': required.has(name) ? 'true' : null },
        required.has(name) ? null : h('option', { value: '' }, '—'),
        s.enum.map((v, i) => h('option', { value: String(i), selected: s.default === v ? true : null }, String(v))));
    } else if (t === 'boolean') {
      input = h('input', { type: 'checkbox', id, name, 'aria-describedby': described, checked: s.default === true });
    } else if (t === 'integer' || t === 'number') {
      input = h('input', {
        type: 'number', id, name, step: t === 'integer' ? '1' : 'any', inputmode: t === 'integer' ? 'numeric' : 'decimal',
        min: s.minimum, max: s.maximum, 'aria-describedby': described, 'aria-required': required.has(name) ? 'true' : null,
        value: s.default !== undefined ? String(s.default) : null,
      });
    } else if (t === 'string') {
      input = h('input', {
        type: 'text', id, name, 'aria-describedby': described, 'aria-required': required.has(name) ? 'true' : null,
        value: s.default !== undefined ? String(s.default) : null, placeholder: s.format || null,
      });
    } else {
      kind = 'json';
      input = h('textarea', { id, name, 'aria-describedby': described, 'aria-required': required.has(name) ? 'true' : null },
        s.default !== undefined ? JSON.stringify(s.default, null, 2) : '');
    }
    const err = h('p', { class: 'field-error', id: errId });
    const typeNote = kind === 'json' ? ` (JSON ${t === 'any' ? 'value' : t})` : '';
    el.append(h('div', { class: 'field' },
      h('label', { for: id }, s.title || name, typeNote, required.has(name) ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
        required.has(name) ? h('span', { class: 'sr-only' }, ' (required)') : null),
      s.description ? h('p', { class: 'hint', id: hintId }, s.description) : null,
      input, err));
    fields.set(name, { kind, input, err, schema: s });
  }

  function setError(name, msg) {
    const f = fields.get(name);
    if (!f) {
      general.textContent = general.textContent ? `${general.textContent}; ${msg}` : msg;
      return;
    }
    f.err.textContent = f.err.textContent ? `${f.err.textContent}; ${msg}` : msg;
    f.input.setAttribute('aria-invalid', 'true');
  }

  function clearErrors() {
    general.textContent = '';
    for (const f of fields.values()) {
      f.err.textContent = '';
      f.input.removeAttribute('aria-invalid');
    }
  }

  function check(name, f, v) {
    const s = f.schema;
    const t = typeOf(s);
    if (t === 'integer' && !Number.isInteger(v)) return 'must be a whole number';
    if (t === 'array' && !Array.isArray(v)) return 'must be a JSON array';
    if (t === 'object' && (typeof v !== 'object' || v === null || Array.isArray(v))) return 'must be a JSON object';
    if (t === 'string' && typeof v !== 'string') return 'must be text';
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) return `must be at least ${s.minimum}`;
      if (s.maximum !== undefined && v > s.maximum) return `must be at most ${s.maximum}`;
    }
    if (typeof v === 'string') {
      if (s.minLength !== undefined && v.length < s.minLength) return `must be at least ${s.minLength} characters`;
      if (s.maxLength !== undefined && v.length > s.maxLength) return `must be at most ${s.maxLength} characters`;
      if (s.pattern) { try { if (!new RegExp(s.pattern, 'u').test(v)) return `must match ${s.pattern}`; } catch (e) { /* the server checks */ } }
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < s.minItems) return `must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`;
      if (s.maxItems !== undefined && v.length > s.maxItems) return `must have at most ${s.maxItems} items`;
    }
    return '';
  }

  function value() {
    clearErrors();
    const data = {};
    let ok = true;
    const fail = (name, msg) => { ok = false; setError(name, msg); };
    for (const [name, f] of fields) {
      let v;
      let present = true;
      if (f.kind === 'json-root') {
        try { v = JSON.parse(f.input.value || '{}'); } catch (e) { fail('', `input is not valid JSON: ${e.message}`); continue; }
        if (typeof v !== 'object' || v === null || Array.isArray(v)) { fail('', 'input must be a JSON object'); continue; }
        Object.assign(data, v);
        continue;
      }
      if (f.kind === 'enum') {
        present = f.input.value !== '';
        if (present) v = f.schema.enum[Number(f.input.value)];
      } else if (f.kind === 'boolean') {
        v = f.input.checked;
      } else if (f.kind === 'integer' || f.kind === 'number') {
        present = f.input.value.trim() !== '';
        if (present) {
          v = Number(f.input.value);
          if (!Number.isFinite(v)) { fail(name, 'must be a number'); continue; }
        } else if (f.input.validity && f.input.validity.badInput) { fail(name, 'must be a number'); continue; }
      } else if (f.kind === 'string') {
        present = f.input.value !== '';
        v = f.input.value;
      } else {
        present = f.input.value.trim() !== '';
        if (present) {
          try { v = JSON.parse(f.input.value); } catch (e) { fail(name, `not valid JSON: ${e.message}`); continue; }
        }
      }
      if (!present) {
        if (required.has(name)) fail(name, 'is required');
        continue;
      }
      const msg = check(name, f, v);
      if (msg) { fail(name, msg); continue; }
      data[name] = v;
    }
    return { data, ok };
  }

  // showErrors places the server's schema findings ({pointer, message})
  // at their fields.
  function showErrors(reasons, fallback) {
    clearErrors();
    if (!Array.isArray(reasons) || !reasons.length) { setError('', fallback || 'refused'); return; }
    for (const r of reasons) {
      const seg = (r.pointer || '').split('/')[1];
      const name = seg === undefined ? '' : seg.replaceAll('~1', '/').replaceAll('~0', '~');
      let msg = r.message || 'invalid';
      if (name === '' && /missing propert/.test(msg)) {
        const m = msg.match(/'([^']+)'/g);
        if (m) { for (const q of m) setError(q.slice(1, -1), 'is required'); continue; }
      }
      if (name && r.pointer.split('/').length > 2) msg = `${r.pointer}: ${msg}`;
      setError(fields.has(name) ? name : '', name && !fields.has(name) ? `${r.pointer}: ${msg}` : msg);
    }
  }

  function focusFirstError() {
    for (const f of fields.values()) if (f.input.getAttribute('aria-invalid') === 'true') { f.input.focus(); return; }
    general.focus && general.setAttribute('tabindex', '-1');
    general.focus();
  }

  return { el, value, showErrors, clearErrors, focusFirstError };
}
