// What every view shares: building DOM without HTML strings (no value is
// ever parsed as markup), the read API, formatting, small SVG charts.

// h('div', {class: 'x', dataset: {id: 'a'}, onclick: f}, 'text', child, [more])
export function h(tag, props, ...kids) {
  const svg = tag.startsWith('svg:');
  const el = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class' && !svg) el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

// Replaces el's children.
export function fill(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// GET a path of this API with the session cookie; params an object (values
// undefined or '' left out). Resolves to the JSON answer; rejects with an
// ApiError carrying the server's code and message.
export async function get(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const url = q.toString() ? `${path}?${q}` : path;
  return call(url, {method: 'GET'});
}

// POST CloudEvents (an array) to /v1/events with the session cookie.
export async function postEvents(events) {
  return call('/v1/events', {
    method: 'POST',
    headers: {'Content-Type': 'application/cloudevents-batch+json'},
    body: JSON.stringify(events),
  });
}

export async function call(url, init) {
  let res;
  try {
    res = await fetch(url, {credentials: 'same-origin', cache: 'no-store', ...init});
  } catch (e) {
    throw new ApiError(0, 'network', 'the server did not answer');
  }
  let body = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    const e = body && body.error;
    const err = new ApiError(res.status, e && e.code, e && e.message);
    if (res.status === 401) window.dispatchEvent(new CustomEvent('sb-unauthorized'));
    throw err;
  }
  return body;
}

// Every page of a read view (keyset pages: next -> after=), up to max rows.
export async function getAll(path, params, max = 5000) {
  let rows = [], after;
  for (;;) {
    const page = await get(path, {...params, limit: 1000, after});
    rows = rows.concat(page.rows || []);
    if (!page.next || rows.length >= max) return rows;
    after = page.next;
  }
}

// A random id for events the page posts (ULID-shaped: time + randomness).
export function ulid() {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = Date.now(), s = '';
  for (let i = 0; i < 10; i++) { s = A[t % 32] + s; t = Math.floor(t / 32); }
  const r = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 16; i++) s += A[r[i] % 32];
  return s;
}

export const fmt = {
  // 0:07, 4:05, 1:02:03
  dur(ms) {
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    const s = Math.floor(ms / 1000), hh = Math.floor(s / 3600),
      mm = Math.floor((s % 3600) / 60), ss = s % 60;
    const p = (n) => String(n).padStart(2, '0');
    return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
  },
  num(n) { return n === null || n === undefined || n === '' ? '–' : Number(n).toLocaleString('en'); },
  pct(x, digits = 1) {
    return x === null || x === undefined || !Number.isFinite(Number(x)) ? '–'
      : `${(Number(x) * 100).toFixed(digits)}%`;
  },
  money(x) {
    return x === null || x === undefined || x === '' ? '–'
      : Number(x).toLocaleString('en', {minimumFractionDigits: 2, maximumFractionDigits: 2});
  },
  time(ms, tz) {
    return new Date(ms).toLocaleTimeString('en-GB', {timeZone: tz || undefined, hour12: false});
  },
  // 'YYYY-MM-DD' of an instant in a time zone
  day(ms, tz) {
    const p = new Intl.DateTimeFormat('en-CA', {timeZone: tz || undefined,
      year: 'numeric', month: '2-digit', day: '2-digit'}).formatToParts(new Date(ms));
    const g = (t) => p.find((x) => x.type === t).value;
    return `${g('year')}-${g('month')}-${g('day')}`;
  },
};

// Milliseconds of an RFC 3339 time (or a number of ms), NaN when none.
export function ms(t) {
  if (t === null || t === undefined || t === '') return NaN;
  if (typeof t === 'number') return t;
  return Date.parse(t);
}

// A small bar chart in SVG: items [{label, value}], drawn to width x height.
export function bars(items, {width = 320, height = 120, label = 'chart'} = {}) {
  const max = Math.max(1, ...items.map((i) => Number(i.value) || 0));
  const bw = items.length ? width / items.length : width;
  const svg = h('svg:svg', {viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': label, class: 'chart'});
  items.forEach((it, i) => {
    const v = Number(it.value) || 0, bh = (v / max) * (height - 14);
    svg.append(h('svg:rect', {x: i * bw + 2, y: height - 12 - bh,
      width: Math.max(1, bw - 4), height: bh, class: 'bar'},
      h('svg:title', {}, `${it.label}: ${v}`)));
  });
  return svg;
}

// A line in SVG of values (numbers), for trends.
export function spark(values, {width = 160, height = 32, label = 'trend'} = {}) {
  const v = values.map((x) => Number(x) || 0);
  const max = Math.max(1, ...v), n = Math.max(1, v.length - 1);
  const pts = v.map((x, i) => `${(i / n) * width},${height - 2 - (x / max) * (height - 4)}`);
  return h('svg:svg', {viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': label, class: 'spark'},
    h('svg:polyline', {points: pts.join(' '), class: 'line'}));
}
