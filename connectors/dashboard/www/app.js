// The dashboard's shell: sign-in, the views a role may open, the live feed
// (one WebSocket, snapshot then events, a freshness indicator that never
// lets stale numbers pass as live). Each view is a module view_<id>.js:
//
//   export default {
//     feed: {topics: ['sb.calls'], types: ['call.*']} | null,
//     async load(ctx)            -> model: the snapshot, from the read API
//     render(ctx, model)         draws the model into ctx.root
//     event(ctx, model, ev)      applies one CloudEvent of the feed (events
//                                may repeat what the snapshot holds: apply
//                                them idempotently, by event time)
//     tick(ctx, model, now)      once a second (ticking clocks), optional
//     leave(ctx, model)          when another view opens, optional (only
//                                after load gave a model)
//   }
//
// The order is always: subscribed -> load -> render -> events received
// meanwhile -> live events; the same after every reconnect, so the page
// never shows half a state.

import * as lib from './lib.js';

const {h, fill} = lib;

// id, title, the roles that may open it (the server scopes the data
// anyway: this only hides what a role could not read), a key to open it.
export const VIEWS = [
  {id: 'wallboard', title: 'Wallboard', roles: ['supervisor', 'manager', 'admin'], key: '1'},
  {id: 'campaigns', title: 'Campaigns & leads', roles: ['manager', 'admin'], key: '2'},
  {id: 'gamification', title: 'Gamification', roles: ['agent', 'supervisor', 'manager', 'admin'], key: '3'},
  {id: 'myday', title: 'My day', roles: ['agent'], key: '4'},
  {id: 'compliance', title: 'Compliance', roles: ['admin'], key: '5'},
];
const HOME = {agent: 'myday', supervisor: 'wallboard', manager: 'campaigns', admin: 'compliance'};

const $ = (id) => document.getElementById(id);
const st = {
  session: null,      // GET /v1/session's answer
  ws: null,
  feed: 'down',       // connecting | subscribing | live | down
  downSince: 0,       // when the feed went down (ms)
  lastEventAt: 0,     // when the last event arrived (ms)
  retryAt: 0,
  backoff: 500,
  view: null,         // {def, mod, model, ctx, ready, buffer, gen}
  gen: 0,
};

function allowed(role) { return VIEWS.filter((v) => v.roles.includes(role)); }

// ---- sign-in ---------------------------------------------------------

async function whoami() {
  try {
    return await lib.get('/v1/session');
  } catch (e) {
    if (e.status === 401 || e.status === 403) return null;
    throw e;
  }
}

function showSignin(message) {
  closeFeed();
  st.session = null;
  $('top').hidden = true;
  $('view').hidden = true;
  $('banner').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('token').focus();
}

async function signin(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  $('signin-error').textContent = '';
  try {
    await lib.call('/v1/session', {method: 'POST', headers: {Authorization: `Bearer ${token}`}});
  } catch (e) {
    $('signin-error').textContent = e.status === 401
      ? 'That token was not accepted (wrong, expired or not for this server).'
      : `Could not sign in: ${e.message}`;
    return;
  }
  $('token').value = '';
  await start();
}

async function signout() {
  try { await lib.call('/v1/session', {method: 'DELETE'}); } catch { /* ended anyway */ }
  showSignin('Signed out.');
}

// ---- navigation ------------------------------------------------------

function renderNav() {
  const views = allowed(st.session.role);
  fill($('nav'), views.map((v) => h('a', {href: `#/${v.id}`, id: `nav-${v.id}`,
    'aria-keyshortcuts': v.key, title: `${v.title} (key ${v.key})`}, v.title)));
  fill($('who'), `${st.session.sub} · ${st.session.role} · ${st.session.tenant}`);
}

function route() {
  if (!st.session) return;
  const views = allowed(st.session.role);
  const want = location.hash.replace(/^#\/?/, '').split('?')[0];
  const def = views.find((v) => v.id === want) ||
    views.find((v) => v.id === HOME[st.session.role]) || views[0];
  if (!def) {
    fill($('view'), h('p', {class: 'error'}, `The role ${st.session.role} has no dashboard view.`));
    $('view').hidden = false;
    return;
  }
  if (want !== def.id) { history.replaceState(null, '', `#/${def.id}`); }
  for (const a of $('nav').querySelectorAll('a'))
    a.setAttribute('aria-current', a.id === `nav-${def.id}` ? 'page' : 'false');
  if (!st.view || st.view.def.id !== def.id) openView(def);
}

async function openView(def) {
  // a view left before its snapshot came has nothing to leave
  if (st.view && st.view.mod && st.view.mod.leave && st.view.model) {
    try { st.view.mod.leave(st.view.ctx, st.view.model); } catch (e) { console.error(e); }
  }
  const gen = ++st.gen;
  const root = $('view');
  root.hidden = false;
  root.dataset.view = def.id;
  root.dataset.ready = 'false';
  fill(root, h('p', {class: 'loading'}, `Loading ${def.title}…`));
  document.title = `${def.title} · Switchboard`;
  let mod;
  try {
    mod = (await import(`./view_${def.id}.js`)).default;
  } catch (e) {
    if (gen !== st.gen) return;
    st.view = null; // the view left is not shown any more: route() opens it again
    fill(root, h('p', {class: 'error'}, `The ${def.title} view could not be loaded: ${e.message}`));
    return;
  }
  if (gen !== st.gen) return;
  const ctx = makeCtx(root, def);
  st.view = {def, mod, ctx, model: null, ready: false, buffer: [], gen, loads: 0};
  // 'subscribing': the welcome came while the module loaded (nothing sent)
  if (mod.feed && (st.feed === 'live' || st.feed === 'subscribing')) subscribe();
  else if (!mod.feed) snapshot();
  else if (st.feed === 'down') { ensureFeed(); snapshot(); }
}

function makeCtx(root, def) {
  const ctx = {
    root, def, h, fill, fmt: lib.fmt, ms: lib.ms, bars: lib.bars, spark: lib.spark,
    ulid: lib.ulid, get: lib.get, getAll: lib.getAll, postEvents: lib.postEvents,
    session: st.session,
    tz: st.session.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone,
    now: () => Date.now(),
    rerender: () => { if (st.view && st.view.ctx === ctx && st.view.ready) safe(() => st.view.mod.render(ctx, st.view.model)); },
  };
  return ctx;
}

function safe(f) {
  try { return f(); } catch (e) { console.error(e); showError(e); }
}

function showError(e) {
  const b = $('banner');
  b.hidden = false;
  b.dataset.kind = 'error';
  fill(b, `Something went wrong: ${e.message}`);
}

// The view's snapshot: loaded after the feed is subscribed (or without a
// feed), then the events that came meanwhile are applied.
async function snapshot() {
  const v = st.view;
  if (!v) return;
  const gen = v.gen, load = ++v.loads;
  v.ready = false;
  v.buffer = [];
  v.ctx.root.dataset.ready = 'false';
  let model;
  try {
    model = await v.mod.load(v.ctx);
  } catch (e) {
    if (gen !== st.gen || load !== v.loads) return;
    if (e.status === 401) return; // back to sign-in
    fill(v.ctx.root, h('p', {class: 'error'},
      `Could not load ${v.def.title}: ${e.message}. Trying again in 5 s.`));
    setTimeout(() => { if (st.view === v && load === v.loads) snapshot(); }, 5000);
    return;
  }
  if (gen !== st.gen || load !== v.loads) return;
  v.model = model;
  fill(v.ctx.root);
  safe(() => v.mod.render(v.ctx, model));
  for (const ev of v.buffer) safe(() => v.mod.event(v.ctx, model, ev));
  v.buffer = [];
  v.ready = true;
  v.ctx.root.dataset.ready = 'true';
  v.ctx.root.classList.remove('stale');
  if (st.feed === 'live') $('banner').hidden = true;
  freshness();
}

// ---- the live feed ---------------------------------------------------

function ensureFeed() {
  if (st.ws || !st.session) return;
  setFeed('connecting');
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`;
  const ws = new WebSocket(url);
  st.ws = ws;
  ws.onmessage = (m) => {
    if (st.ws !== ws) return;
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    if (msg.welcome) { setFeed('subscribing'); subscribe(); return; }
    if (msg.subscribed) {
      setFeed('live');
      st.backoff = 500;
      snapshot(); // a fresh snapshot after every (re)subscription
      return;
    }
    if (msg.error) {
      const b = $('banner');
      b.hidden = false;
      b.dataset.kind = 'error';
      fill(b, `The live feed refused: ${msg.error.message || msg.error.code}`);
      return;
    }
    if (msg.specversion) {
      st.lastEventAt = Date.now();
      const v = st.view;
      if (!v || !v.mod || !v.mod.feed) return;
      if (!v.ready) v.buffer.push(msg);
      else safe(() => v.mod.event(v.ctx, v.model, msg));
      freshness();
    }
  };
  ws.onclose = (e) => {
    if (st.ws !== ws) return;
    st.ws = null;
    if (!st.session) return;
    setFeed('down', e.code === 1008 ? e.reason : '');
    if (e.code === 1008 && /session|revoked|expired/i.test(e.reason || '')) {
      whoami().then((s) => { if (!s) showSignin('Your session has ended: sign in again.'); });
    }
    const wait = st.backoff * (0.75 + Math.random() * 0.5);
    st.backoff = Math.min(10000, st.backoff * 2);
    st.retryAt = Date.now() + wait;
    setTimeout(() => { if (st.session && !st.ws) ensureFeed(); }, wait);
  };
}

function subscribe() {
  const v = st.view;
  if (!st.ws || st.ws.readyState !== WebSocket.OPEN || !v || !v.mod) return;
  if (!v.mod.feed) { st.ws.send(JSON.stringify({unsubscribe: true})); setFeed('live'); return; }
  st.ws.send(JSON.stringify({subscribe: v.mod.feed}));
}

function closeFeed() {
  const ws = st.ws;
  st.ws = null;
  if (ws) ws.close(1000);
}

function setFeed(state, why) {
  if (state === 'down' && st.feed !== 'down') st.downSince = Date.now();
  st.feed = state;
  if (state === 'down' && st.view) st.view.ctx.root.classList.add('stale');
  freshness(why);
}

// The indicator in the header, and the banner while the feed is down.
function freshness(why) {
  const f = $('fresh');
  f.dataset.state = st.feed;
  const now = Date.now();
  if (st.feed === 'live') {
    const age = st.lastEventAt ? Math.max(0, Math.round((now - st.lastEventAt) / 1000)) : null;
    f.textContent = age === null ? 'live · no event yet' : `live · last event ${age} s ago`;
    f.dataset.age = age === null ? '' : String(age);
    if (st.view && st.view.ready) $('banner').hidden = true;
  } else if (st.feed === 'down') {
    const tz = st.session && st.session.time_zone;
    f.textContent = `feed down since ${lib.fmt.time(st.downSince, tz)}`;
    const b = $('banner');
    b.hidden = false;
    b.dataset.kind = 'stale';
    const retry = Math.max(0, Math.ceil((st.retryAt - now) / 1000));
    fill(b, `The live feed is down${why ? ` (${why})` : ''}: the numbers below are as of ` +
      `${lib.fmt.time(st.downSince, tz)} and are not updating. ` +
      (retry ? `Reconnecting in ${retry} s…` : 'Reconnecting…'));
  } else {
    f.textContent = st.feed === 'connecting' ? 'connecting…' : 'subscribing…';
  }
}

setInterval(() => {
  if (!st.session) return;
  freshness();
  const v = st.view;
  if (v && v.ready && v.mod.tick) safe(() => v.mod.tick(v.ctx, v.model, Date.now()));
}, 1000);

// ---- start -----------------------------------------------------------

async function start() {
  let s;
  try {
    s = await whoami();
  } catch (e) {
    showSignin(`The server did not answer (${e.message}).`);
    return;
  }
  if (!s) { showSignin(''); return; }
  st.session = s;
  $('signin').hidden = true;
  $('top').hidden = false;
  renderNav();
  ensureFeed();
  route();
}

window.addEventListener('hashchange', route);
window.addEventListener('sb-unauthorized', () => {
  if (st.session) whoami().then((s) => { if (!s) showSignin('Your session has ended: sign in again.'); });
});
document.addEventListener('keydown', (e) => {
  if (!st.session || e.altKey || e.ctrlKey || e.metaKey) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  const v = allowed(st.session.role).find((x) => x.key === e.key);
  if (v) { location.hash = `#/${v.id}`; $('main').focus(); }
});
// a module runs once the document is parsed
$('signin-form').addEventListener('submit', signin);
$('signout').addEventListener('click', signout);
start();

// for the browser tests: what the shell knows
window.sbDashboard = {state: () => ({feed: st.feed, view: st.view && st.view.def.id,
  ready: !!(st.view && st.view.ready), lastEventAt: st.lastEventAt, session: st.session})};
