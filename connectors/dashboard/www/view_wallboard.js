// The Wallboard (supervisor, manager, admin): the agent grid (routing's
// agent board) with time in state ticking here and colour bands, the
// queues (calls waiting and the longest wait from analytics' live_calls,
// today's service level and abandon rate from analytics' calls), the
// calls in progress, a drill-down queue -> agents -> call kept in the URL
// hash (#/wallboard?queue=q1&call=c9), and a big-number mode (?big=1).

import * as ops from './ops.js';

const SHEET = 'ops.css';
const MAX_CALLS = 5000;   // live calls kept (the oldest go first)
const SHOWN_CALLS = 200;  // rows of the calls in progress drawn
const REFRESH_MS = 1500;  // today's figures re-read this long after a call ends
const FOLLOW_MS = 5000;   // and once more this long after that
const PERIOD_MS = 15000; // and this often anyway

function params() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

function setParams(changes) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '' || v === false) p.delete(k);
    else p.set(k, v === true ? '1' : v);
  }
  const s = p.toString();
  location.hash = `#/wallboard${s ? `?${s}` : ''}`;
}

function settingsKey(ctx) { return `sb.wallboard.${ctx.session.tenant}.${ctx.session.sub}`; }

const DEFAULTS = {bands: ops.DEFAULT_BANDS, resetHour: 0};

async function loadToday(ctx, m) {
  const w = ops.dayWindow(Date.now(), m.tz, m.settings.resetHour, ctx.fmt.day);
  let rows;
  if (m.settings.resetHour === 0) {
    const end = ctx.fmt.day(w.next, m.tz);
    rows = await ctx.getAll('/v1/analytics/calls', {from: w.day, to: end});
  } else {
    rows = await ctx.getAll('/v1/analytics/calls', {bucket: 'hour',
      from: new Date(w.start).toISOString(), to: new Date(w.next).toISOString()}, 100000);
  }
  return {window: w, sums: ops.sumCalls(rows), at: Date.now()};
}

export default {
  feed: {topics: ['sb.calls', 'sb.agents'], types: ['call.*', 'agent.*']},

  async load(ctx) {
    ops.style(SHEET);
    const ms = ctx.ms;
    const [agentRows, callRows, tenant] = await Promise.all([
      ctx.getAll('/v1/projections/routing/agents', {}, 20000),
      ctx.getAll('/v1/analytics/live_calls', {}, MAX_CALLS),
      ctx.get('/v1/analytics/tenant'),
    ]);
    const m = {
      agents: new Map(), calls: new Map(), gone: new Map(),
      settings: ops.loadSetting(settingsKey(ctx), DEFAULTS),
      rows: new Map(), callRows: new Map(), queueRows: new Map(),
      els: {}, refreshTimer: 0, dirtyQueues: false,
    };
    for (const r of agentRows) m.agents.set(r.agent_id, ops.agentFromRow(r, ms));
    for (const r of callRows) m.calls.set(r.call_id, ops.callFromRow(r, ms));
    // the tenant's zone, the one analytics buckets its days in (none
    // before the tenant's first settings event: then UTC, as analytics)
    m.tz = ops.tenantZone(tenant);
    m.today = await loadToday(ctx, m);
    return m;
  },

  render(ctx, m) {
    const {h} = ctx;
    const p = params();
    m.big = p.get('big') === '1';
    m.queue = p.get('queue') || '';
    m.call = p.get('call') || '';
    m.rows.clear(); m.callRows.clear(); m.queueRows.clear();
    const els = m.els = {};
    const root = ctx.root;
    root.classList.toggle('wb-bigmode', m.big);
    if (!m.onHash) {
      m.onHash = () => {
        if (!location.hash.startsWith('#/wallboard')) return;
        const q = params();
        if ((q.get('big') === '1') !== m.big || (q.get('queue') || '') !== m.queue ||
            (q.get('call') || '') !== m.call) ctx.rerender();
      };
      window.addEventListener('hashchange', m.onHash);
    }
    const w = m.today.window;
    els.day = h('span', {class: 'muted', 'data-testid': 'wb-day'},
      `Today: since ${ctx.fmt.time(w.start, m.tz).slice(0, 5)} on ${w.day} (${m.tz})`);
    const toolbar = h('div', {class: 'toolbar'},
      h('h1', {}, 'Wallboard'), els.day,
      h('button', {type: 'button', class: 'secondary', 'data-testid': 'wb-big-toggle',
        'aria-pressed': String(m.big), onclick: () => setParams({big: !m.big})},
      m.big ? 'Full wallboard' : 'Big numbers'),
      m.big ? null : settingsPanel(ctx, m));
    if (m.big) {
      els.big = {};
      const big = h('div', {class: 'wb-big', 'data-testid': 'wb-big'},
        [['waiting', 'Calls waiting'], ['longest', 'Longest wait'], ['sl', 'Service level today'],
          ['abandon', 'Abandon rate today'], ['available', 'Agents available'], ['oncall', 'Agents on calls']]
          .map(([k, label]) => h('div', {class: 'wb-bignum', 'data-testid': `big-${k}`},
            els.big[k] = h('div', {class: 'value'}, '–'), h('div', {class: 'label'}, label))));
      ctx.fill(root, toolbar, big);
      this.tick(ctx, m, Date.now());
      return;
    }
    // tiles
    els.tiles = {};
    const tiles = h('div', {class: 'grid wb-tiles'},
      [['agents', 'Agents logged in'], ['available', 'Available'], ['oncall', 'On calls'],
        ['paused', 'Paused'], ['waiting', 'Calls waiting'], ['longest', 'Longest wait'],
        ['sl', 'Service level today'], ['abandon', 'Abandon rate today']]
        .map(([k, label]) => h('div', {class: 'panel tile', 'data-testid': `tile-${k}`},
          els.tiles[k] = h('div', {class: 'value'}, '–'), h('div', {class: 'label'}, label))));
    // queues
    els.queues = h('tbody');
    const queues = h('section', {class: 'panel', 'aria-labelledby': 'wb-queues-h'},
      h('h2', {id: 'wb-queues-h'}, 'Queues ', m.queue ? h('button', {type: 'button',
        class: 'secondary', 'data-testid': 'wb-all-queues', onclick: () => setParams({queue: null, call: null})},
      'all queues') : null),
      h('div', {class: 'scroll'}, h('table', {'data-testid': 'wb-queues'},
        h('thead', {}, h('tr', {}, h('th', {}, 'Queue'), h('th', {class: 'num'}, 'Waiting'),
          h('th', {class: 'num'}, 'Longest'), h('th', {class: 'num'}, 'Talking'),
          h('th', {class: 'num', title: 'Calls offered today'}, 'Offered'),
          h('th', {class: 'num', title: 'Service level today'}, 'SL'),
          h('th', {class: 'num', title: 'Abandon rate today'}, 'Abandon'))), els.queues)));
    // calls in progress
    els.calls = h('tbody');
    els.callCount = h('span', {class: 'muted'});
    const calls = h('section', {class: 'panel', 'aria-labelledby': 'wb-calls-h'},
      h('h2', {id: 'wb-calls-h'}, 'Calls in progress', m.queue ? ` in ${m.queue}` : '', ' ', els.callCount),
      h('div', {class: 'scroll wb-short'}, h('table', {'data-testid': 'wb-calls'},
        h('thead', {}, h('tr', {}, h('th', {}, 'Call'), h('th', {}, 'State'), h('th', {class: 'num'}, 'For'),
          h('th', {}, 'Queue'), h('th', {}, 'Agent'), h('th', {}, 'Campaign'))), els.calls)));
    // drill-down: the call chosen
    els.detail = h('section', {class: 'panel', 'data-testid': 'wb-call-detail', hidden: !m.call},
      m.call ? callDetail(ctx, m) : null);
    // agents
    els.agents = h('tbody');
    els.agentCount = h('span', {class: 'muted'});
    const agents = h('section', {class: 'panel wb-agents', 'aria-labelledby': 'wb-agents-h'},
      h('h2', {id: 'wb-agents-h'}, 'Agents', m.queue ? ` of ${m.queue}` : '', ' ', els.agentCount),
      h('div', {class: 'scroll'}, h('table', {'data-testid': 'wb-agents'},
        h('thead', {}, h('tr', {}, h('th', {}, 'Agent'), h('th', {}, 'Team'), h('th', {}, 'State'),
          h('th', {class: 'num'}, 'Time in state'), h('th', {}, 'Current call'),
          h('th', {class: 'num'}, 'Calls today'))), els.agents)),
      legend(ctx, m));
    ctx.fill(root, toolbar, tiles, h('div', {class: 'wb-cols'},
      h('div', {class: 'wb-col'}, queues, calls, els.detail), agents));
    const ids = [...m.agents.keys()].sort(byName);
    for (const id of ids) this.agentRow(ctx, m, m.agents.get(id));
    for (const c of [...m.calls.values()].sort((a, b) => a.since - b.since)) this.callRow(ctx, m, c);
    this.queueTable(ctx, m);
    this.tick(ctx, m, Date.now());
  },

  // an agent's row, made or brought up to date (only the cells that change)
  agentRow(ctx, m, a) {
    if (!m.els.agents) return;
    const show = !m.queue || a.queues.includes(m.queue) ||
      (a.call && m.calls.get(a.call) && m.calls.get(a.call).queue === m.queue);
    let r = m.rows.get(a.id);
    if (!show) {
      if (r) { r.tr.remove(); m.rows.delete(a.id); }
      return;
    }
    const {h} = ctx;
    if (!r) {
      r = {tr: h('tr', {'data-agent': a.id}), state: h('td', {class: 'wb-state'}),
        tis: h('td', {class: 'num', 'data-testid': 'tis'}), call: h('td'), team: h('td'),
        calls: h('td', {class: 'num'}), band: -1, key: ''};
      r.tr.append(h('td', {}, a.id), r.team, r.state, r.tis, r.call, r.calls);
      // in id order
      let next = null;
      for (const tr of m.els.agents.children) if (byName(tr.dataset.agent, a.id) > 0) { next = tr; break; }
      m.els.agents.insertBefore(r.tr, next);
      m.rows.set(a.id, r);
    }
    const pause = a.now === 'paused' ? a.pause : '';
    const key = `${a.now}|${pause}|${a.call}|${a.team}|${a.callsToday}`;
    if (key !== r.key) {
      r.key = key;
      r.tr.dataset.state = a.now;
      r.team.textContent = a.team;
      ctx.fill(r.state, label(a.now), pause ? h('span', {class: 'wb-pause', 'data-testid': 'pause'}, ` · ${pause}`) : null);
      ctx.fill(r.call, a.call ? h('a', {href: `#/wallboard?${drill(m.queue, a.call)}`, 'data-call': a.call}, a.call) : '');
      r.calls.textContent = String(a.callsToday);
      r.band = -1; // recomputed by tick
    }
    this.tickAgent(ctx, m, a, r, Date.now());
  },

  tickAgent(ctx, m, a, r, now) {
    const secs = a.since ? Math.max(0, (now - a.since) / 1000) : 0;
    const txt = a.since && a.now !== 'offline' ? ctx.fmt.dur(now - a.since) : '';
    if (r.tis.textContent !== txt) r.tis.textContent = txt;
    const b = ops.bandOf(m.settings.bands, a.now, secs);
    if (b !== r.band) {
      r.band = b;
      const k = ops.kindOf(a.now);
      r.tr.className = k ? `wb-${k} wb-b${b}` : '';
      r.tr.dataset.band = String(b);
    }
  },

  callRow(ctx, m, c) {
    if (!m.els.calls) return;
    let r = m.callRows.get(c.id);
    const shown = (x) => !x.gone && (!m.queue || x.queue === m.queue);
    if (!shown(c)) {
      if (r) {
        r.tr.remove();
        m.callRows.delete(c.id);
        // a place in the list: the next call not shown yet
        if (m.callRows.size === SHOWN_CALLS - 1)
          for (const x of m.calls.values()) if (shown(x) && !m.callRows.has(x.id)) { this.callRow(ctx, m, x); break; }
      }
      return;
    }
    const {h} = ctx;
    if (!r) {
      if (m.callRows.size >= SHOWN_CALLS) return; // the list shows 200; the counts are all
      r = {tr: h('tr', {'data-call': c.id}), state: h('td'), dur: h('td', {class: 'num'}),
        queue: h('td'), agent: h('td'), campaign: h('td'), key: ''};
      r.tr.append(h('td', {}, h('a', {href: `#/wallboard?${drill(m.queue, c.id)}`}, c.id)),
        r.state, r.dur, r.queue, r.agent, r.campaign);
      m.els.calls.append(r.tr);
      m.callRows.set(c.id, r);
    }
    const key = `${c.state}|${c.queue}|${c.agent}|${c.campaign}`;
    if (key !== r.key) {
      r.key = key;
      r.tr.dataset.state = c.state;
      r.state.textContent = c.state;
      r.queue.textContent = c.queue;
      r.agent.textContent = c.agent;
      r.campaign.textContent = c.campaign;
    }
    r.dur.textContent = c.since ? ctx.fmt.dur(Date.now() - c.since) : '';
  },

  queueTable(ctx, m) {
    if (!m.els.queues) return;
    const {h} = ctx;
    const live = queueLive(m);
    const names = new Set([...live.keys()].filter((k) => k !== '*'));
    for (const k of m.today.sums.keys()) if (k !== '*' && k !== '') names.add(k);
    for (const q of [...names].sort(byName)) {
      let r = m.queueRows.get(q);
      if (!r) {
        r = {tr: h('tr', {'data-queue': q, class: q === m.queue ? 'wb-chosen' : ''}),
          waiting: h('td', {class: 'num', 'data-testid': 'q-waiting'}),
          longest: h('td', {class: 'num', 'data-testid': 'q-longest'}),
          talking: h('td', {class: 'num'}), offered: h('td', {class: 'num'}),
          sl: h('td', {class: 'num', 'data-testid': 'q-sl'}), ab: h('td', {class: 'num', 'data-testid': 'q-abandon'})};
        r.tr.append(h('td', {}, h('a', {href: `#/wallboard?${drill(q === m.queue ? '' : q, '')}`,
          'aria-current': q === m.queue ? 'true' : 'false'}, q)),
        r.waiting, r.longest, r.talking, r.offered, r.sl, r.ab);
        let next = null;
        for (const tr of m.els.queues.children) if (byName(tr.dataset.queue, q) > 0) { next = tr; break; }
        m.els.queues.insertBefore(r.tr, next);
        m.queueRows.set(q, r);
      }
      const l = live.get(q) || {waiting: 0, talking: 0, oldest: 0};
      const s = m.today.sums.get(q) || {offered: 0, in_sl: 0, abandoned: 0};
      r.waiting.textContent = String(l.waiting);
      r.oldest = l.oldest;
      r.talking.textContent = String(l.talking);
      r.offered.textContent = String(s.offered);
      r.sl.textContent = ctx.fmt.pct(ops.ratio(s.in_sl, s.offered));
      r.ab.textContent = ctx.fmt.pct(ops.ratio(s.abandoned, s.offered));
    }
    m.queueLive = live;
  },

  event(ctx, m, ev) {
    const t = ctx.ms(ev.time);
    if (!Number.isFinite(t)) return;
    const d = ev.data || {};
    if (ev.type.startsWith('call.')) {
      const c = ops.callEvent(m.calls, m.gone, ev, t, MAX_CALLS);
      if (c) { this.callRow(ctx, m, c); m.dirtyQueues = true; }
      if (c && c.gone) this.refreshSoon(ctx, m);
      if (m.call && c && c.id === m.call && m.els.detail) ctx.fill(m.els.detail, callDetail(ctx, m));
    }
    const id = d.agent_id || (ev.type.startsWith('agent.') ? ev.subject : '');
    if (id && (ev.type.startsWith('agent.') || ev.type in {'call.offered': 1, 'call.connected': 1,
      'call.ended': 1, 'call.dispositioned': 1})) {
      let a = m.agents.get(id);
      if (!a) {
        if (m.agents.size >= 20000) return;
        a = ops.newAgent(id);
        m.agents.set(id, a);
      }
      if (ops.agentEvent(a, ev, t)) {
        if (ev.type === 'call.ended' && a.callsDay === ctx.fmt.day(t, m.tz)) a.callsToday++;
        else if (ev.type === 'call.ended') { a.callsDay = ctx.fmt.day(t, m.tz); a.callsToday = 1; }
        const r = m.rows.get(id);
        if (r || m.els.agents) this.agentRow(ctx, m, a);
      }
    }
  },

  // today's figures, re-read from analytics once the calls that ended
  // are counted there (debounced: one read per REFRESH_MS at most, and
  // once more FOLLOW_MS later for what its batch had not committed yet)
  refreshSoon(ctx, m, follow = true) {
    if (m.refreshTimer) return;
    m.refreshTimer = setTimeout(async () => {
      try {
        m.today = await loadToday(ctx, m);
        m.dirtyQueues = true;
      } catch (e) { console.warn('today\'s figures', e); }
      m.refreshTimer = 0;
      if (follow) {
        clearTimeout(m.followTimer);
        m.followTimer = setTimeout(() => this.refreshSoon(ctx, m, false), FOLLOW_MS);
      }
    }, REFRESH_MS);
  },

  tick(ctx, m, now) {
    if (m.today && now >= m.today.window.next) { this.refreshSoon(ctx, m); m.today.window.next = Infinity; }
    // and every PERIOD_MS: answered calls are counted when their
    // disposition comes or analytics.disposition_wait_s passes, no event then
    else if (m.today && Date.now() - m.today.at > PERIOD_MS) { m.today.at = Date.now(); this.refreshSoon(ctx, m, false); }
    if (m.dirtyQueues || !m.queueLive) { this.queueTable(ctx, m); m.dirtyQueues = false; }
    const live = m.queueLive || queueLive(m);
    const all = live.get('*') || {waiting: 0, talking: 0, oldest: 0};
    const focus = m.queue ? (live.get(m.queue) || {waiting: 0, oldest: 0}) : all;
    const sums = m.today.sums.get(m.queue || '*') || {offered: 0, in_sl: 0, abandoned: 0};
    let avail = 0, oncall = 0, paused = 0, logged = 0;
    for (const a of m.agents.values()) {
      if (m.queue && !a.queues.includes(m.queue)) continue;
      if (a.now !== 'offline') logged++;
      if (a.now === 'available') avail++;
      else if (ops.kindOf(a.now) === 'incall') oncall++;
      else if (a.now === 'paused') paused++;
    }
    const longest = focus.oldest ? ctx.fmt.dur(now - focus.oldest) : '0:00';
    const sl = ctx.fmt.pct(ops.ratio(sums.in_sl, sums.offered));
    const ab = ctx.fmt.pct(ops.ratio(sums.abandoned, sums.offered));
    const set = (el, v) => { if (el && el.textContent !== v) el.textContent = v; };
    const T = m.big ? m.els.big : m.els.tiles;
    if (T) {
      set(T.agents, String(logged)); set(T.available, String(avail)); set(T.oncall, String(oncall));
      set(T.paused, String(paused)); set(T.waiting, String(focus.waiting)); set(T.longest, longest);
      set(T.sl, sl); set(T.abandon, ab);
      const warn = focus.oldest && now - focus.oldest > 120000;
      T.longest.parentNode.classList.toggle('bad', !!warn);
    }
    if (m.big) return;
    for (const [id, r] of m.rows) this.tickAgent(ctx, m, m.agents.get(id), r, now);
    for (const [id, r] of m.callRows) {
      const c = m.calls.get(id);
      if (c) { const v = ctx.fmt.dur(now - c.since); if (r.dur.textContent !== v) r.dur.textContent = v; }
    }
    for (const [q, r] of m.queueRows) {
      const l = live.get(q);
      set(r.longest, l && l.oldest ? ctx.fmt.dur(now - l.oldest) : '–');
    }
    set(m.els.agentCount, `(${m.rows.size})`);
    set(m.els.callCount, `(${m.queue ? focus.waiting + (focus.talking || 0) : m.calls.size})`);
  },

  leave(ctx, m) {
    if (m.onHash) window.removeEventListener('hashchange', m.onHash);
    m.onHash = null;
    clearTimeout(m.refreshTimer);
    clearTimeout(m.followTimer);
    m.refreshTimer = 0;
  },
};

// per queue (and '*': all): calls waiting (waiting or ringing), talking,
// and the oldest waiting call's queue entry
function queueLive(m) {
  const by = new Map([['*', {waiting: 0, talking: 0, oldest: 0}]]);
  for (const c of m.calls.values()) {
    const keys = c.queue ? [c.queue, '*'] : ['*'];
    for (const k of keys) {
      let s = by.get(k);
      if (!s) by.set(k, s = {waiting: 0, talking: 0, oldest: 0});
      if (c.state === 'waiting' || c.state === 'ringing') {
        s.waiting++;
        const since = c.queuedAt || c.since;
        if (since && (!s.oldest || since < s.oldest)) s.oldest = since;
      } else if (c.state === 'talking') s.talking++;
    }
  }
  return by;
}

// agent-2 before agent-10
const collator = new Intl.Collator('en', {numeric: true});
function byName(a, b) { return collator.compare(a, b); }

function drill(queue, call) {
  const p = new URLSearchParams();
  if (queue) p.set('queue', queue);
  if (call) p.set('call', call);
  return p.toString();
}

const LABELS = {available: 'available', ringing: 'ringing', on_call: 'on call', wrapup: 'wrap-up',
  paused: 'paused', offline: 'logged out'};
function label(s) { return LABELS[s] || s; }

function callDetail(ctx, m) {
  const {h} = ctx;
  const c = m.calls.get(m.call);
  const close = h('a', {href: `#/wallboard?${drill(m.queue, '')}`, 'data-testid': 'wb-close-call'}, 'close');
  if (!c) return [h('h2', {}, `Call ${m.call}`), h('p', {class: 'muted'}, 'Not in progress (ended, or not this tenant\'s).'), close];
  const t = (x) => (x ? ctx.fmt.time(x, m.tz) : '–');
  const dl = h('dl', {class: 'wb-dl'});
  for (const [k, v] of [['State', c.state], ['Direction', c.dir], ['Queue', c.queue || '–'],
    ['Agent', c.agent || '–'], ['Campaign', c.campaign || '–'], ['Started', t(c.startedAt)],
    ['Queued', t(c.queuedAt)], ['Answered', t(c.connectedAt)]]) dl.append(h('dt', {}, k), h('dd', {}, v));
  return [h('h2', {}, `Call ${c.id}`), dl, close];
}

function legend(ctx, m) {
  const {h} = ctx;
  const b = m.settings.bands;
  const s = (x) => (x < 60 ? `${x} s` : `${Math.round(x / 60)} min`);
  return h('p', {class: 'wb-legend muted'}, 'Bands: ',
    ['available', 'incall', 'paused'].map((k) => [1, 2, 3].map((i) =>
      h('span', {class: `wb-${k} wb-b${i} wb-chip`}, `${k === 'incall' ? 'on call' : k} > ${s(b[k][i - 1])}`))));
}

function settingsPanel(ctx, m) {
  const {h} = ctx;
  const inputs = {};
  const row = (k, title) => h('fieldset', {}, h('legend', {}, title),
    [0, 1, 2].map((i) => h('label', {}, `band ${i + 1} from `,
      inputs[`${k}${i}`] = h('input', {type: 'number', min: '1', max: '86400', step: '1',
        value: String(m.settings.bands[k][i]), 'data-testid': `set-${k}-${i}`, class: 'wb-num'}), ' s')));
  const reset = h('input', {type: 'number', min: '0', max: '23', step: '1', class: 'wb-num',
    value: String(m.settings.resetHour), 'data-testid': 'set-reset'});
  const msg = h('span', {role: 'status', class: 'muted'});
  const form = h('form', {class: 'wb-settings', onsubmit: async (e) => {
    e.preventDefault();
    const bands = {};
    for (const k of ['available', 'incall', 'paused']) {
      const v = [0, 1, 2].map((i) => Number(inputs[`${k}${i}`].value));
      if (v.some((x) => !Number.isInteger(x) || x < 1 || x > 86400) || !(v[0] < v[1] && v[1] < v[2])) {
        msg.textContent = `${k}: three whole numbers of seconds, 1 to 86400, each greater than the one before`;
        return;
      }
      bands[k] = v;
    }
    const hr = Number(reset.value);
    if (!Number.isInteger(hr) || hr < 0 || hr > 23) { msg.textContent = 'day starts at: an hour, 0 to 23'; return; }
    const again = hr !== m.settings.resetHour;
    m.settings = {bands, resetHour: hr};
    ops.saveSetting(settingsKey(ctx), m.settings);
    if (again) {
      try { m.today = await loadToday(ctx, m); } catch (err) {
        msg.textContent = `Saved; today's figures could not be read again: ${err.message}`;
        return;
      }
    }
    ctx.rerender();
  }},
  row('available', 'Available'), row('incall', 'Ringing, on call, wrap-up'), row('paused', 'Paused'),
  h('label', {}, 'Day starts at hour ', reset, ` (${m.tz})`),
  h('button', {type: 'submit', 'data-testid': 'set-save'}, 'Save'),
  h('button', {type: 'button', class: 'secondary', onclick: () => {
    m.settings = {...DEFAULTS};
    ops.saveSetting(settingsKey(ctx), m.settings);
    loadToday(ctx, m).then((t) => { m.today = t; ctx.rerender(); },
      (err) => { msg.textContent = `Today's figures could not be read again: ${err.message}`; });
  }}, 'Defaults'), msg,
  h('p', {class: 'muted'}, 'Kept in this browser for you (localStorage).'));
  return h('details', {class: 'wb-settings-box'}, h('summary', {'data-testid': 'wb-settings'}, 'Settings'), form);
}
