// The segment builder: the whole segment language as nested editors over the JSON definition
// itself. Every editor changes only the keys it shows, so a saved definition opens and comes out
// exactly as it was saved; the JSON pane beside it is the same object.
import { VOCABULARY } from './vocabulary.js';
import { h } from './ui.js';

const NUMERIC = ['gt', 'gte', 'lt', 'lte', 'between'];
const VALUE_OPS = ['eq', 'ne', 'contains', 'starts_with', 'in', ...NUMERIC, 'exists'];
const OP_LABEL = {
  eq: 'is', ne: 'is not', contains: 'contains', starts_with: 'starts with', in: 'is one of',
  gt: '>', gte: '≥', lt: '<', lte: '≤', between: 'between', exists: 'exists',
};

/// What each kind of condition is called and how a new one starts.
export const LEAVES = {
  trait: { label: 'Trait', make: () => ({ trait: 'title', contains: '' }) },
  score: { label: 'Score', make: () => ({ score: { gte: 50 } }) },
  grade: { label: 'Fit grade', make: () => ({ grade: ['A'] }) },
  stage: { label: 'Lifecycle stage', make: () => ({ stage: ['mql'] }) },
  did: { label: 'Did an event', make: () => ({ did: 'page_viewed', within_days: 30 }) },
  did_not: { label: 'Did not do an event', make: () => ({ did_not: 'page_viewed', within_days: 30 }) },
  in_segment: { label: 'In a saved segment', make: (ctx) => ({ in_segment: ctx.segments[0]?.id || '' }) },
  in_list: { label: 'On a list', make: (ctx) => ({ in_list: ctx.lists[0]?.id || '' }) },
  rfm: { label: 'RFM segment', make: () => ({ rfm: ['Champions'] }) },
  account_trait: { label: 'Account trait', make: () => ({ account_trait: 'industry', eq: '' }) },
  account: { label: 'Account is', make: () => ({ account: [''] }) },
};
const GROUPS = { and: 'All of', or: 'Any of' };

/// The kind of a node: its head key, as the API reads it.
export function headOf(node) {
  const heads = ['and', 'or', 'not', ...Object.keys(LEAVES)];
  return heads.find((k) => node && typeof node === 'object' && k in node) || null;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

function numberOrBlank(v) { return v === undefined || v === null ? '' : String(v); }

function readNumber(text) {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t; // a non-number goes to the API as it is: it names the field
}

function lines(text) { return text.split('\n').map((s) => s.trim()).filter((s) => s !== ''); }

/// Toggles `value` in `array` keeping the order of what was there (so an untouched array stays
/// exactly as saved).
function toggled(array, value, on) {
  const rest = (array || []).filter((x) => x !== value);
  return on ? [...rest, value] : rest;
}

function field(label, control, extra) {
  return h('label', { class: 'fld' }, h('span', {}, label), control, extra || null);
}

function input(attrs, onInput) {
  const el = h('input', attrs);
  el.addEventListener('input', () => onInput(el.value));
  return el;
}

function select(options, value, onChange, attrs = {}) {
  const el = h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
  el.addEventListener('change', () => onChange(el.value));
  return el;
}

function checks(name, options, chosen, onChange) {
  return h('fieldset', { class: 'checks' }, h('legend', {}, name),
    options.map((o) => {
      const box = h('input', { type: 'checkbox', checked: (chosen || []).includes(o), value: o });
      box.addEventListener('change', () => onChange(toggled(chosen, o, box.checked)));
      return h('label', {}, box, o);
    }));
}

/// A numeric range: the bounds the node has (`gt`, `gte`, `lt`, `lte`, `between`), each
/// editable, and a way to add another.
function rangeEditor(obj, changed, label) {
  const box = h('span', { class: 'range' });
  const present = NUMERIC.filter((k) => k in obj);
  for (const k of present) {
    const opSel = select(NUMERIC.map((o) => [o, OP_LABEL[o]]), k, (op) => {
      const v = obj[k];
      delete obj[k];
      obj[op] = op === 'between' ? (Array.isArray(v) ? v : [v ?? 0, v ?? 0]) : (Array.isArray(v) ? v[0] : v);
      changed(true);
    }, { 'aria-label': `${label} comparison` });
    let values;
    if (k === 'between') {
      const pair = Array.isArray(obj[k]) ? obj[k] : [obj[k], obj[k]];
      values = [0, 1].map((i) => input({ type: 'text', inputmode: 'decimal', class: 'n', value: numberOrBlank(pair[i]), 'aria-label': `${label} ${i ? 'high' : 'low'}` }, (t) => {
        const p = Array.isArray(obj[k]) ? [...obj[k]] : [pair[0], pair[1]];
        p[i] = readNumber(t);
        obj[k] = p;
        changed();
      }));
      values.splice(1, 0, ' and ');
    } else {
      values = [input({ type: 'text', inputmode: 'decimal', class: 'n', value: numberOrBlank(obj[k]), 'aria-label': `${label} value` }, (t) => { obj[k] = readNumber(t); changed(); })];
    }
    const drop = present.length > 1 ? h('button', { type: 'button', class: 'x', title: 'Remove this bound', 'aria-label': 'Remove this bound', onclick: () => { delete obj[k]; changed(true); } }, '×') : null;
    box.append(h('span', { class: 'bound' }, opSel, values, drop));
  }
  const free = NUMERIC.filter((o) => o !== 'between' && !(o in obj));
  if (free.length && !('between' in obj)) {
    box.append(h('button', { type: 'button', class: 'link', onclick: () => { obj[free[0]] = 0; changed(true); } }, '+ bound'));
  }
  return box;
}

/// A value test (trait, account trait, event property): the operator and its value.
function valueTest(obj, subject, changed, label) {
  const ops = Object.keys(obj).filter((k) => k !== subject);
  const numeric = ops.length > 0 && ops.every((o) => NUMERIC.includes(o));
  const op = numeric ? 'range' : (ops[0] || 'eq');
  const choices = VALUE_OPS.filter((o) => !NUMERIC.includes(o) || o === 'between').map((o) => [o, OP_LABEL[o]]);
  choices.splice(5, 0, ['range', 'number range']);
  const opSel = select(choices, numeric && ops.length === 1 ? ops[0] : op, (next) => {
    const old = ops.map((o) => obj[o]);
    for (const o of ops) delete obj[o];
    const first = old[0];
    const asText = Array.isArray(first) ? first.join(', ') : (first === undefined || typeof first === 'boolean' ? '' : String(first));
    if (next === 'range') obj.gte = typeof first === 'number' ? first : 0;
    else if (next === 'between') obj.between = [0, 0];
    else if (next === 'exists') obj.exists = true;
    else if (next === 'in') obj.in = asText ? [asText] : [''];
    else obj[next] = asText;
    changed(true);
  }, { 'aria-label': `${label} operator` });
  // A one-bound range shows its bound's own operator in the range editor.
  if (numeric) {
    opSel.value = 'range';
    return h('span', { class: 'test' }, opSel, rangeEditor(obj, changed, label));
  }
  if (op === 'exists') {
    return h('span', { class: 'test' }, opSel, select([['true', 'yes'], ['false', 'no']], String(obj.exists !== false), (v) => { obj.exists = v === 'true'; changed(); }, { 'aria-label': `${label} exists` }));
  }
  if (op === 'in') {
    const area = h('textarea', { rows: Math.max(2, (obj.in || []).length), 'aria-label': `${label} values, one per line` }, (obj.in || []).join('\n'));
    area.addEventListener('input', () => { obj.in = lines(area.value); changed(); });
    return h('span', { class: 'test' }, opSel, area);
  }
  const v = obj[op];
  const isNumber = typeof v === 'number';
  const box = input({ type: 'text', value: v === undefined ? '' : String(v), 'aria-label': `${label} value` }, (t) => {
    obj[op] = (op === 'eq' || op === 'ne') && obj.__number ? readNumber(t) : t;
    changed();
  });
  if (op === 'eq' || op === 'ne') {
    // Whether the value is compared as text or as a number ("200" against 200).
    Object.defineProperty(obj, '__number', { value: isNumber, writable: true, enumerable: false, configurable: true });
    const kind = select([['text', 'as text'], ['number', 'as number']], isNumber ? 'number' : 'text', (k) => {
      obj.__number = k === 'number';
      obj[op] = obj.__number ? readNumber(String(obj[op] ?? '')) ?? 0 : String(obj[op] ?? '');
      changed(true);
    }, { 'aria-label': `${label} compared` });
    return h('span', { class: 'test' }, opSel, box, kind);
  }
  return h('span', { class: 'test' }, opSel, box);
}

function kindSelect(value, onChange, label) {
  const known = VOCABULARY.kinds.map((k) => [k.key, k.name ? `${k.name} (${k.key})` : k.key]);
  if (value && !known.some(([k]) => k === value)) known.unshift([value, value]);
  return select(known, value, onChange, { 'aria-label': label });
}

function behaviour(node, head, changed, ctx) {
  const parts = [kindSelect(node[head], (v) => { node[head] = v; changed(); }, 'Event')];
  if (head === 'did') {
    parts.push(field('at least', input({ type: 'text', inputmode: 'numeric', class: 'n', name: 'at_least', value: numberOrBlank(node.at_least), placeholder: '1' }, (t) => {
      const n = readNumber(t); if (n === undefined) delete node.at_least; else node.at_least = n; changed();
    })));
    parts.push(field('at most', input({ type: 'text', inputmode: 'numeric', class: 'n', name: 'at_most', value: numberOrBlank(node.at_most), placeholder: 'any' }, (t) => {
      const n = readNumber(t); if (n === undefined) delete node.at_most; else node.at_most = n; changed();
    })));
  }
  parts.push(field('in the last (days)', input({ type: 'text', inputmode: 'numeric', class: 'n', name: 'within_days', value: numberOrBlank(node.within_days) }, (t) => {
    const n = readNumber(t); if (n === undefined) delete node.within_days; else node.within_days = n; changed();
  })));
  const where = h('div', { class: 'where' });
  (node.where || []).forEach((p, i) => {
    where.append(h('div', { class: 'prop', 'data-path': `${ctx.path}.where[${i}]` },
      'where property ',
      input({ type: 'text', class: 'key', value: p.property || '', 'aria-label': 'Property' }, (t) => { p.property = t; changed(); }),
      valueTest(p, 'property', changed, 'Property'),
      h('button', { type: 'button', class: 'x', 'aria-label': 'Remove this property condition', title: 'Remove', onclick: () => {
        node.where.splice(i, 1);
        if (node.where.length === 0) delete node.where;
        changed(true);
      } }, '×')));
  });
  where.append(h('button', { type: 'button', class: 'link', onclick: () => { (node.where ||= []).push({ property: 'revenue', gte: 0 }); changed(true); } }, '+ property condition'));
  return [h('span', { class: 'row' }, parts), where];
}

function leafBody(node, head, changed, ctx) {
  switch (head) {
    case 'trait':
    case 'account_trait':
      return [input({ type: 'text', class: 'key', value: node[head], 'aria-label': head === 'trait' ? 'Trait name' : 'Account trait name' }, (t) => { node[head] = t; changed(); }),
        valueTest(node, head, changed, head === 'trait' ? 'Trait' : 'Account trait')];
    case 'score': return [rangeEditor(node.score, changed, 'Score')];
    case 'grade': return [checks('Grades', VOCABULARY.grades, node.grade, (v) => { node.grade = v; changed(true); })];
    case 'stage': return [checks('Stages', VOCABULARY.stages, node.stage, (v) => { node.stage = v; changed(true); })];
    case 'rfm': {
      const spec = node.spec;
      const specFields = spec ? h('span', { class: 'row' },
        field('window (days)', input({ type: 'text', class: 'n', value: numberOrBlank(spec.window_days), placeholder: '365' }, (t) => { const n = readNumber(t); if (n === undefined) delete spec.window_days; else spec.window_days = n; changed(); })),
        field('purchase event', input({ type: 'text', value: spec.purchase_event || '', placeholder: 'purchase_completed' }, (t) => { if (t.trim()) spec.purchase_event = t; else delete spec.purchase_event; changed(); })),
        field('revenue property', input({ type: 'text', value: spec.revenue_property || '', placeholder: 'revenue' }, (t) => { if (t.trim()) spec.revenue_property = t; else delete spec.revenue_property; changed(); })),
        spec.bins ? h('span', { class: 'help' }, 'with its own bins (edit them in the JSON)') : null,
        h('button', { type: 'button', class: 'link', onclick: () => { delete node.spec; changed(true); } }, 'default analysis'))
        : h('button', { type: 'button', class: 'link', onclick: () => { node.spec = {}; changed(true); } }, 'change the analysis');
      return [checks('RFM segments', VOCABULARY.rfm, node.rfm, (v) => { node.rfm = v; changed(true); }), specFields];
    }
    case 'in_segment': {
      const opts = ctx.segments.filter((s) => s.id !== ctx.self).map((s) => [s.id, s.name]);
      if (node.in_segment && !opts.some(([id]) => id === node.in_segment)) opts.unshift([node.in_segment, node.in_segment]);
      return [select(opts.length ? opts : [['', 'no saved segment yet']], node.in_segment, (v) => { node.in_segment = v; changed(); }, { 'aria-label': 'Saved segment' })];
    }
    case 'in_list': {
      const opts = ctx.lists.map((l) => [l.id, `${l.name} (${l.entity})`]);
      if (node.in_list && !opts.some(([id]) => id === node.in_list)) opts.unshift([node.in_list, node.in_list]);
      return [select(opts.length ? opts : [['', 'no list yet']], node.in_list, (v) => { node.in_list = v; changed(); }, { 'aria-label': 'List' })];
    }
    case 'account': {
      const area = h('textarea', { rows: 2, 'aria-label': 'Account ids, one per line' }, (node.account || []).join('\n'));
      area.addEventListener('input', () => { node.account = lines(area.value); changed(); });
      return [area];
    }
    default: return [h('code', {}, JSON.stringify(node))];
  }
}

function addMenu(onPick, ctx) {
  const options = [['', '+ Add…'], ...Object.entries(LEAVES).map(([k, v]) => [k, v.label]), ['and', 'Group: all of'], ['or', 'Group: any of']];
  const el = select(options, '', (k) => {
    if (!k) return;
    onPick(k === 'and' || k === 'or' ? { [k]: [LEAVES.trait.make(ctx)] } : LEAVES[k].make(ctx));
  }, { class: 'add', 'aria-label': 'Add a condition' });
  return el;
}

/// The editor of `node` at JSON path `path`; `replace(next)` swaps the node in its parent
/// (`null` removes it).
function editor(node, path, replace, changed, ctx) {
  const head = headOf(node);
  const tools = (extra) => h('span', { class: 'tools' }, extra,
    head !== 'not' ? h('button', { type: 'button', class: 'link', onclick: () => replace({ not: node }) }, 'not') : null,
    replace.removable ? h('button', { type: 'button', class: 'x', 'aria-label': 'Remove this condition', title: 'Remove', onclick: () => replace(null) }, '×') : null);
  if (head === 'and' || head === 'or') {
    const kids = node[head];
    const list = h('ol', { class: 'kids' });
    kids.forEach((kid, i) => {
      const put = (next) => {
        if (next === null) kids.splice(i, 1); else kids[i] = next;
        changed(true);
      };
      put.removable = true;
      list.append(h('li', {}, editor(kid, `${path}.${head}[${i}]`, put, changed, ctx)));
    });
    const mode = select(Object.entries(GROUPS), head, (next) => {
      const replacement = { [next]: kids };
      replace(replacement);
    }, { 'aria-label': 'Combine the conditions', class: 'mode' });
    return h('div', { class: `group ${head}`, 'data-path': path },
      h('div', { class: 'ghead' }, mode, h('span', { class: 'help' }, head === 'and' ? 'every condition below holds' : 'at least one holds'), tools()),
      kids.length ? list : h('p', { class: 'empty' }, 'No condition yet: add one to see who matches.'),
      addMenu((n) => { kids.push(n); changed(true); }, ctx));
  }
  if (head === 'not') {
    const put = (next) => { if (next === null) replace(null); else { node.not = next; changed(true); } };
    put.removable = false;
    return h('div', { class: 'group not', 'data-path': path },
      h('div', { class: 'ghead' }, h('strong', {}, 'Not'), h('span', { class: 'help' }, 'the condition below does not hold'),
        h('span', { class: 'tools' }, h('button', { type: 'button', class: 'link', onclick: () => replace(node.not) }, 'remove not'),
          replace.removable ? h('button', { type: 'button', class: 'x', 'aria-label': 'Remove this condition', title: 'Remove', onclick: () => replace(null) }, '×') : null)),
      editor(node.not, `${path}.not`, put, changed, ctx));
  }
  if (!head) {
    return h('div', { class: 'leaf', 'data-path': path }, h('code', {}, JSON.stringify(node)), tools());
  }
  const body = (head === 'did' || head === 'did_not') ? behaviour(node, head, changed, { ...ctx, path }) : leafBody(node, head, changed, ctx);
  return h('div', { class: `leaf ${head}`, 'data-path': path },
    h('span', { class: 'what' }, LEAVES[head].label), h('span', { class: 'body' }, body), tools());
}

/// A builder over `state.definition`: renders into `root` and calls `onChange` after every edit
/// (`structural`: the tree changed shape, so it was drawn again).
export function builder(root, state, ctx, onChange) {
  const draw = () => {
    const top = (next) => {
      state.definition = next === null ? { and: [] } : next;
      draw();
      onChange(true);
    };
    top.removable = false;
    const changed = (structural) => {
      if (structural) draw();
      onChange(Boolean(structural));
    };
    root.replaceChildren(editor(state.definition, '$', top, changed, ctx));
  };
  draw();
  return { draw };
}

/// Marks the node an API error names (`segment.and[1].gte` → the editor of `$.and[1]`).
export function markError(root, field, message) {
  for (const el of root.querySelectorAll('.invalid')) el.classList.remove('invalid');
  for (const el of root.querySelectorAll('.node-error')) el.remove();
  if (!field) return;
  const full = '$' + field.replace(/^segment|^definition/, '');
  let path = full;
  while (path) {
    const el = [...root.querySelectorAll('[data-path]')].find((e) => e.dataset.path === path);
    if (el) {
      el.classList.add('invalid');
      // A key inside the condition is named: "within_days is required: …".
      const inner = full.slice(path.length).replace(/^\./, '');
      el.append(h('p', { class: 'node-error error', role: 'alert' }, inner ? `${inner} ${message}` : message));
      return;
    }
    const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
    if (cut <= 0) break;
    path = path.slice(0, cut);
  }
}
