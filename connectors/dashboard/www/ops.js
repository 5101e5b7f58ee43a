// What the Wallboard and My day views share: the agent board's state as
// routing keeps it (the later of the agent's own events and its calls'),
// the live calls as analytics keeps them (live_calls), each applied from
// the read API's rows and then from the feed's events in any order and
// any number of times; time-in-state colour bands; the tenant's "today".

// ---- agents ------------------------------------------------------------

const CALL_STATE = {'call.offered': 'ringing', 'call.connected': 'on_call',
  'call.ended': 'wrapup', 'call.dispositioned': 'done'};
const CALL_RANK = {ringing: 1, on_call: 2, wrapup: 3, done: 4};

// An agent from a row of GET /v1/projections/routing/agents.
export function agentFromRow(r, ms) {
  return {
    id: r.agent_id, team: r.team_id || '', queues: splitList(r.queues),
    own: r.state || 'offline', ownSince: ms(r.state_since) || 0,
    ownAt: ms(r.state_seen_at) || ms(r.state_since) || 0,
    pause: r.pause_reason || '', ownCall: r.state_call_id || '',
    callState: r.call_state || '', callId: r.call_id || '', callAt: ms(r.call_at) || 0,
    callsToday: Number(r.calls_on_day) || 0, callsDay: r.calls_day || '',
    lead: r.current_lead_id || '', tz: r.time_zone || '',
    // the board's own answer, until an event moves the agent
    now: r.state_now || r.state || 'offline', since: ms(r.state_now_since) || ms(r.state_since) || 0,
    call: r.current_call_id || '',
  };
}

export function newAgent(id) {
  return {id, team: '', queues: [], own: 'offline', ownSince: 0, ownAt: 0, pause: '',
    ownCall: '', callState: '', callId: '', callAt: 0, callsToday: 0, callsDay: '', lead: '',
    tz: '', now: 'offline', since: 0, call: ''};
}

function splitList(s) { return s ? String(s).split(',').filter(Boolean).map((x) => x.split(':')[0]) : []; }

// Applies one feed event to agent a (t: its time in ms); true when it
// changed what the board shows. An event no later than what a already
// holds (the snapshot's, or a repeat) changes nothing.
export function agentEvent(a, ev, t) {
  const d = ev.data || {};
  if (ev.type.startsWith('agent.')) {
    if (t < a.ownAt) return false; // (the same time: a repeat changes nothing)
    let state = a.own;
    if (ev.type === 'agent.state_changed') state = d.state || state;
    else if (ev.type === 'agent.logged_in') state = d.state || 'available';
    else if (ev.type === 'agent.logged_out') state = 'offline';
    else if (ev.type === 'agent.skills_changed') {
      if (Array.isArray(d.queue_ids)) a.queues = d.queue_ids.slice(0, 64);
      if (d.team_id) a.team = d.team_id;
      return true;
    } else return false;
    if (state !== a.own || ev.type !== 'agent.state_changed') a.ownSince = t;
    if (d.team_id) a.team = d.team_id;
    a.own = state;
    a.ownAt = t;
    a.pause = state === 'paused' ? (d.pause_reason || '') : '';
    a.ownCall = d.call_id || '';
  } else if (CALL_STATE[ev.type]) {
    // at the same time, the later step of a call wins (answered after rung)
    if (t < a.callAt || (t === a.callAt && CALL_RANK[CALL_STATE[ev.type]] < (CALL_RANK[a.callState] || 0))) return false;
    a.callState = CALL_STATE[ev.type];
    a.callId = d.call_id || ev.subject || '';
    a.callAt = t;
  } else {
    return false;
  }
  effective(a);
  return true;
}

// The state the board shows: routing's rule (routing.agents state_now).
function effective(a) {
  if (a.callAt && a.callAt > a.ownAt) {
    a.since = a.callAt;
    if (a.callState !== 'done') {
      a.now = a.callState;
      a.call = a.callId;
      return;
    }
    a.call = '';
    a.now = a.own === 'offline' || a.own === 'paused' ? a.own : 'available';
    return;
  }
  a.now = a.own;
  a.since = a.callAt > a.ownSince ? a.ownAt : a.ownSince;
  a.call = a.ownCall;
}

// ---- live calls ----------------------------------------------------------

// A call's facts from a live_calls row.
export function callFromRow(r, ms) {
  const c = {id: r.call_id, dir: r.direction || '', queue: r.queue_id || '',
    campaign: r.campaign_id || '', agent: r.agent_id || '', startedAt: ms(r.started_at) || 0,
    queuedAt: ms(r.queued_at) || 0, offeredAt: 0, ringAgent: '',
    connectedAt: ms(r.answered_at) || 0, gone: false, state: r.state, since: ms(r.state_since) || 0};
  if (r.state === 'ringing') { c.offeredAt = c.since; c.ringAgent = c.agent; }
  if (r.state === 'talking' && !c.connectedAt) c.connectedAt = c.since;
  return c;
}

function newCall(id) {
  return {id, dir: '', queue: '', campaign: '', agent: '', startedAt: 0, queuedAt: 0,
    offeredAt: 0, ringAgent: '', connectedAt: 0, gone: false, state: 'started', since: 0};
}

const minT = (a, b) => (a && b ? Math.min(a, b) : a || b);

// Folds a call.* event into the calls map (the same facts whatever the
// order, as analytics folds them); returns the call touched or null.
// gone: ids of calls over, bounded, so a late event does not bring one
// back. max: the most calls kept (the oldest started go first).
export function callEvent(calls, gone, ev, t, max = 5000) {
  const d = ev.data || {};
  const id = d.call_id || ev.subject;
  if (!id || !ev.type.startsWith('call.')) return null;
  if (['call.ended', 'call.abandoned', 'call.dispositioned'].includes(ev.type)) {
    gone.delete(id);
    gone.set(id, true);
    while (gone.size > max) gone.delete(gone.keys().next().value);
    const c = calls.get(id);
    calls.delete(id);
    return c ? Object.assign(c, {gone: true}) : {id, gone: true};
  }
  if (gone.has(id)) return null;
  let c = calls.get(id);
  if (!c) {
    c = newCall(id);
    calls.set(id, c);
    while (calls.size > max) calls.delete(calls.keys().next().value);
  }
  if (ev.type === 'call.started') {
    c.startedAt = minT(c.startedAt, t);
    if (d.direction) c.dir = d.direction;
    if (d.campaign_id) c.campaign = d.campaign_id;
    if (d.agent_id && !c.agent) c.agent = d.agent_id;
  } else if (ev.type === 'call.queued') {
    c.queuedAt = minT(c.queuedAt, t);
    if (d.queue_id) c.queue = d.queue_id;
    if (d.campaign_id) c.campaign = d.campaign_id;
  } else if (ev.type === 'call.offered') {
    if (d.queue_id && !c.queue) c.queue = d.queue_id;
    if (!c.queuedAt && d.queue_id) c.queuedAt = t - (Number(d.wait_ms) || 0);
    if (t >= c.offeredAt) { c.offeredAt = t; c.ringAgent = d.agent_id || ''; }
  } else if (ev.type === 'call.connected') {
    c.connectedAt = minT(c.connectedAt, t);
    if (d.agent_id) c.agent = d.agent_id;
    if (d.queue_id) c.queue = d.queue_id;
  } else {
    return null;
  }
  callState(c);
  return c;
}

function callState(c) {
  if (c.connectedAt) { c.state = 'talking'; c.since = c.connectedAt; }
  else if (c.offeredAt) { c.state = 'ringing'; c.since = c.offeredAt; c.agent = c.ringAgent; }
  else if (c.queuedAt) { c.state = 'waiting'; c.since = c.queuedAt; }
  else { c.state = 'started'; c.since = c.startedAt; }
}

// ---- colour bands --------------------------------------------------------

// Time-in-state thresholds per kind of state, in seconds (VICIdial's
// real-time report: 10 s, 1 min, 5 min).
export const DEFAULT_BANDS = {available: [10, 60, 300], incall: [10, 60, 300], paused: [10, 60, 300]};

export function kindOf(state) {
  if (state === 'available') return 'available';
  if (state === 'ringing' || state === 'on_call' || state === 'wrapup') return 'incall';
  if (state === 'paused') return 'paused';
  return '';
}

// 0 (under the first threshold, or a state without bands) to 3.
export function bandOf(bands, state, secs) {
  const th = bands[kindOf(state)];
  if (!th) return 0;
  let b = 0;
  for (const x of th) if (secs >= x) b++;
  return b;
}

// ---- the tenant's day ----------------------------------------------------

// The UTC instant (ms) of a local wall time in zone tz.
export function zonedToUtc(y, m, d, hh, tz) {
  const guess = Date.UTC(y, m - 1, d, hh);
  const off = (t) => {
    const p = new Intl.DateTimeFormat('en-US', {timeZone: tz, hourCycle: 'h23', year: 'numeric',
      month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric'})
      .formatToParts(new Date(t));
    const g = (k) => Number(p.find((x) => x.type === k).value);
    return Date.UTC(g('year'), g('month') - 1, g('day'), g('hour'), g('minute'), g('second')) - t;
  };
  let t = guess - off(guess);
  t = guess - off(t); // once more: the offset at the instant found
  return t;
}

// "Today" for a day that starts at local hour resetHour in zone tz: its
// first instant (ms), its local date, the next start.
export function dayWindow(now, tz, resetHour, fmtDay) {
  const [y, m, d] = fmtDay(now, tz).split('-').map(Number);
  let start = zonedToUtc(y, m, d, resetHour, tz);
  if (start > now) {
    const prev = new Date(Date.UTC(y, m - 1, d) - 86400000);
    start = zonedToUtc(prev.getUTCFullYear(), prev.getUTCMonth() + 1, prev.getUTCDate(), resetHour, tz);
  }
  const s = new Date(start + 36 * 3600000); // well into the next local day
  const nd = fmtDay(s, tz).split('-').map(Number);
  const next = zonedToUtc(nd[0], nd[1], nd[2], resetHour, tz);
  return {start, day: fmtDay(start, tz), next: next > start ? next : start + 86400000};
}

// Sums the call rows of analytics (v_calls_daily or v_calls_hourly) per
// queue and in total: offered, answered, answered_in_sl, abandoned.
export function sumCalls(rows) {
  const by = new Map();
  const add = (k, r) => {
    let s = by.get(k);
    if (!s) by.set(k, s = {offered: 0, answered: 0, in_sl: 0, abandoned: 0, handled: 0});
    s.offered += Number(r.offered) || 0;
    s.answered += Number(r.answered) || 0;
    s.in_sl += Number(r.answered_in_sl) || 0;
    s.abandoned += Number(r.abandoned) || 0;
    s.handled += Number(r.handled) || 0;
  };
  for (const r of rows) { add(r.queue_id || '', r); add('*', r); }
  return by;
}

export const ratio = (n, d) => (d ? n / d : null);

// The tenant's zone from GET /v1/analytics/tenant (UTC, as analytics
// takes it, before any settings event; a zone this browser does not know:
// UTC too, said in the console).
export function tenantZone(answer) {
  const r = answer && answer.rows && answer.rows[0];
  const tz = (r && r.time_zone) || 'UTC';
  try { new Intl.DateTimeFormat('en', {timeZone: tz}); return tz; } catch {
    console.warn(`time zone ${tz} unknown to this browser: UTC used`);
    return 'UTC';
  }
}

// A view's stylesheet, once (style-src 'self': a file of ours).
export function style(name) {
  if (document.querySelector(`link[data-sheet="${name}"]`)) return;
  const l = document.createElement('link');
  l.rel = 'stylesheet';
  l.href = `/ui/${name}`;
  l.dataset.sheet = name;
  document.head.append(l);
}

// A setting kept per user in this browser (localStorage).
export function loadSetting(key, dflt) {
  try {
    const v = JSON.parse(localStorage.getItem(key) || 'null');
    return v && typeof v === 'object' ? {...dflt, ...v} : {...dflt};
  } catch { return {...dflt}; }
}
export function saveSetting(key, v) {
  try { localStorage.setItem(key, JSON.stringify(v)); } catch { /* private mode: this page only */ }
}
