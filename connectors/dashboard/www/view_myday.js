// My day (agent): its own state and time in state (routing's agent board:
// the server answers an agent its own row only), its current call and
// lead, its calls today (analytics' agents view), points today and in all,
// rank today (gamification's around_me), badges, and what happens to it as
// it happens (the feed: an agent's subscription carries its own events
// only). Laid out for a phone as well as a desk.

import * as ops from './ops.js';

const MAX_NOTES = 50;  // notifications kept
const MAX_LEADS = 20;  // leads assigned kept
const REFRESH_MS = 1500;

const REASONS = ['break', 'lunch', 'training', 'meeting', 'personal'];

async function loadFigures(ctx, m) {
  const w = ops.dayWindow(Date.now(), m.tz, 0, ctx.fmt.day);
  const end = ctx.fmt.day(w.next, m.tz);
  const me = ctx.session.sub;
  const [agentDays, pointDays, balance, around, badges] = await Promise.all([
    ctx.getAll('/v1/analytics/agents', {from: w.day, to: end}, 10),
    ctx.getAll('/v1/projections/gamification/agent_days', {agent: me, from: w.day, to: end}, 10),
    ctx.getAll('/v1/projections/gamification/balances', {agent: me}, 10),
    ctx.getAll('/v1/projections/gamification/around_me', {span: 'day', period: w.day, scope: 'tenant'}, 50),
    ctx.getAll('/v1/projections/gamification/badges', {agent: me}, 200),
  ]);
  return {window: w, day: agentDays.find((r) => r.agent_id === me) || null,
    pointsToday: pointDays.reduce((s, r) => s + (Number(r.points) || 0), 0),
    balance: balance[0] || null, around, badges};
}

export default {
  feed: {topics: ['sb.agents', 'sb.calls', 'sb.leads', 'sb.gamification'], types: ['*']},

  async load(ctx) {
    ops.style('ops.css');
    const me = ctx.session.sub;
    const [agentRows, callRows, tenant] = await Promise.all([
      ctx.getAll('/v1/projections/routing/agents', {agent: me}, 10),
      ctx.getAll('/v1/analytics/live_calls', {agent: me}, 100),
      ctx.get('/v1/analytics/tenant'),
    ]);
    const row = agentRows.find((r) => r.agent_id === me);
    const m = {
      me, agent: row ? ops.agentFromRow(row, ctx.ms) : ops.newAgent(me),
      calls: new Map(), gone: new Map(), notes: [], leads: [], els: {}, refreshTimer: 0,
      tz: ops.tenantZone(tenant),
    };
    for (const r of callRows) m.calls.set(r.call_id, ops.callFromRow(r, ctx.ms));
    if (m.agent.lead) m.leads.push({id: m.agent.lead, at: ctx.ms(row.lead_assigned_at) || 0, from: 'board'});
    m.fig = await loadFigures(ctx, m);
    return m;
  },

  render(ctx, m) {
    const {h} = ctx;
    const els = m.els = {};
    const a = m.agent;
    els.state = h('div', {class: 'md-state', 'data-testid': 'md-state'});
    els.tis = h('div', {class: 'tile', 'data-testid': 'md-tis'});
    els.call = h('div', {'data-testid': 'md-call'});
    els.stateBox = h('section', {class: 'panel md-state-box', 'aria-labelledby': 'md-state-h'},
      h('h2', {id: 'md-state-h'}, 'My state'), els.state, els.tis, els.call, stateControls(ctx, m));
    els.tiles = {};
    const tile = (k, label) => h('div', {class: 'panel tile', 'data-testid': `md-${k}`},
      els.tiles[k] = h('div', {class: 'value'}, '–'), h('div', {class: 'label'}, label));
    const top = h('div', {class: 'md-top'}, els.stateBox,
      tile('handled', 'Calls handled today'), tile('aht', 'Average handling time'),
      tile('points', 'Points today'), tile('rank', 'Rank today'), tile('balance', 'Points balance'));
    els.leads = h('ul', {class: 'md-list', 'data-testid': 'md-leads'});
    els.around = h('tbody');
    els.badges = h('ul', {class: 'md-list', 'data-testid': 'md-badges'});
    els.notes = h('ol', {class: 'md-list', 'data-testid': 'md-notes', 'aria-live': 'polite'});
    const grid = h('div', {class: 'md-grid'},
      h('section', {class: 'panel'}, h('h2', {}, 'What just happened'), els.notes),
      h('section', {class: 'panel'}, h('h2', {}, 'My leads'), els.leads),
      h('section', {class: 'panel'}, h('h2', {}, 'Leaderboard today, around me'),
        h('table', {'data-testid': 'md-around'}, h('thead', {}, h('tr', {}, h('th', {class: 'num'}, 'Rank'),
          h('th', {}, 'Agent'), h('th', {class: 'num'}, 'Points'))), els.around)),
      h('section', {class: 'panel'}, h('h2', {}, 'My badges'), els.badges));
    ctx.fill(ctx.root, h('div', {class: 'toolbar'}, h('h1', {}, `My day · ${m.me}`),
      h('span', {class: 'muted', 'data-testid': 'md-day'}, `${m.fig.window.day} (${m.tz})`)), top, grid);
    this.drawAgent(ctx, m);
    this.drawFigures(ctx, m);
    this.drawLeads(ctx, m);
    for (const n of m.notes) els.notes.append(noteEl(ctx, m, n));
    if (!m.notes.length) els.notes.append(h('li', {class: 'muted', 'data-empty': '1'}, 'Nothing yet today: events about you appear here as they happen.'));
  },

  drawAgent(ctx, m) {
    const {h} = ctx;
    const a = m.agent, els = m.els;
    els.state.dataset.state = a.now;
    ctx.fill(els.state, LABELS[a.now] || a.now, a.now === 'paused' && a.pause ? ` · ${a.pause}` : '');
    const c = a.call ? m.calls.get(a.call) : null;
    ctx.fill(els.call, a.call ? h('p', {}, 'Call ', h('strong', {}, a.call),
      c ? ` · ${c.state}${c.queue ? ` · ${c.queue}` : ''}${c.campaign ? ` · ${c.campaign}` : ''}` : '') : '');
    m.band = -1;
    this.tick(ctx, m, Date.now());
  },

  drawFigures(ctx, m) {
    const f = m.fig, T = m.els.tiles;
    T.handled.textContent = ctx.fmt.num(f.day ? f.day.handled : 0);
    T.aht.textContent = f.day && f.day.aht_s !== null && f.day.aht_s !== undefined ? ctx.fmt.dur(Number(f.day.aht_s) * 1000) : '–';
    T.points.textContent = ctx.fmt.num(f.pointsToday);
    T.balance.textContent = ctx.fmt.num(f.balance ? f.balance.balance : 0);
    const mine = f.around.find((r) => r.agent_id === m.me);
    T.rank.textContent = mine ? `${mine.rank} of ${mine.of_agents}` : '–';
    const {h} = ctx;
    ctx.fill(m.els.around, f.around.length ? f.around.sort((x, y) => x.rank - y.rank).map((r) =>
      h('tr', {class: r.agent_id === m.me ? 'md-me' : '', 'data-agent': r.agent_id},
        h('td', {class: 'num'}, String(r.rank)), h('td', {}, r.agent_id === m.me ? `${r.agent_id} (me)` : r.agent_id),
        h('td', {class: 'num'}, ctx.fmt.num(r.points))))
      : h('tr', {}, h('td', {colspan: '3', class: 'muted'}, 'No points today yet.')));
    ctx.fill(m.els.badges, f.badges.length ? f.badges.map((b) => h('li', {'data-badge': b.badge_id},
      h('strong', {}, b.badge_name || b.badge_id), b.tier ? ` · ${b.tier}` : '',
      h('span', {class: 'muted'}, ` · ${ctx.fmt.day(ctx.ms(b.awarded_at), m.tz)}`)))
      : h('li', {class: 'muted'}, 'No badges yet.'));
  },

  drawLeads(ctx, m) {
    const {h} = ctx;
    ctx.fill(m.els.leads, m.leads.length ? m.leads.map((l) => h('li', {'data-lead': l.id},
      h('strong', {}, l.id), l.at ? h('span', {class: 'muted'}, ` · assigned ${ctx.fmt.time(l.at, m.tz)}`) : '',
      l.reason ? h('span', {class: 'muted'}, ` · ${l.reason}`) : ''))
      : h('li', {class: 'muted'}, 'No lead assigned to you now.'));
  },

  event(ctx, m, ev) {
    const t = ctx.ms(ev.time);
    if (!Number.isFinite(t)) return;
    const d = ev.data || {};
    // the feed is scoped by the server: still, draw only what names me
    if (ev.type.startsWith('call.')) {
      const c = ops.callEvent(m.calls, m.gone, ev, t, 200);
      if (c && m.agent.call === c.id) this.drawAgent(ctx, m);
    }
    const mine = d.agent_id === m.me || (ev.type.startsWith('agent.') && ev.subject === m.me);
    if (mine && ops.agentEvent(m.agent, ev, t)) this.drawAgent(ctx, m);
    const lead = d.lead_id || ev.subject;
    if (ev.type === 'lead.assigned' && d.agent_id === m.me && !m.leads.some((l) => l.id === lead)) {
      m.leads.unshift({id: lead, at: t, reason: d.strategy || ''});
      m.leads.length = Math.min(m.leads.length, MAX_LEADS);
      this.drawLeads(ctx, m);
    }
    if (['call.ended', 'call.dispositioned', 'points.awarded', 'points.reversed', 'badge.awarded',
      'challenge.won', 'challenge.score_updated'].includes(ev.type)) this.refreshSoon(ctx, m);
    const text = describe(ev, m.me);
    if (text && !m.notes.some((n) => n.id === ev.id)) {
      const n = {id: ev.id, at: t, text, type: ev.type};
      m.notes.unshift(n);
      const empty = m.els.notes.querySelector('[data-empty]');
      if (empty) empty.remove();
      m.els.notes.prepend(noteEl(ctx, m, n));
      while (m.notes.length > MAX_NOTES) { m.notes.pop(); m.els.notes.lastChild.remove(); }
    }
  },

  refreshSoon(ctx, m) {
    if (m.refreshTimer) return;
    m.refreshTimer = setTimeout(async () => {
      try { m.fig = await loadFigures(ctx, m); this.drawFigures(ctx, m); } catch (e) { console.warn('my figures', e); }
      m.refreshTimer = 0;
    }, REFRESH_MS);
  },

  tick(ctx, m, now) {
    const a = m.agent;
    const txt = a.since && a.now !== 'offline' ? ctx.fmt.dur(now - a.since) : '';
    if (m.els.tis && m.els.tis.textContent !== txt) m.els.tis.textContent = txt;
    const b = ops.bandOf(ops.DEFAULT_BANDS, a.now, a.since ? (now - a.since) / 1000 : 0);
    if (b !== m.band && m.els.stateBox) {
      m.band = b;
      const k = ops.kindOf(a.now);
      m.els.stateBox.className = `panel md-state-box${k ? ` wb-${k} wb-b${b}` : ''}`;
      m.els.stateBox.dataset.band = String(b);
    }
    if (m.fig && now >= m.fig.window.next) { m.fig.window.next = Infinity; this.refreshSoon(ctx, m); }
  },

  leave(ctx, m) { clearTimeout(m.refreshTimer); m.refreshTimer = 0; },
};

const LABELS = {available: 'Available', ringing: 'Ringing', on_call: 'On a call', wrapup: 'Wrap-up',
  paused: 'Paused', offline: 'Logged out'};

function noteEl(ctx, m, n) {
  return ctx.h('li', {'data-type': n.type}, ctx.h('span', {class: 'muted'}, `${ctx.fmt.time(n.at, m.tz)} `), n.text);
}

// One line for an event about me, or '' for one not worth a line.
function describe(ev, me) {
  const d = {...(ev.data || {})};
  // the feed's call events name the call by their subject (call_id is the
  // subject's field: not repeated in data)
  if (ev.type.startsWith('call.') && !d.call_id) d.call_id = ev.subject;
  if (ev.type.startsWith('lead.') && !d.lead_id) d.lead_id = ev.subject;
  switch (ev.type) {
    case 'call.offered': return d.agent_id === me ? `Call ${d.call_id} is ringing for you${d.queue_id ? ` (${d.queue_id})` : ''}` : '';
    case 'call.connected': return d.agent_id === me ? `You are on call ${d.call_id}` : '';
    case 'call.ended': return `Call ${d.call_id} ended`;
    case 'call.dispositioned': return `Call ${d.call_id}: ${d.disposition || 'dispositioned'}`;
    case 'lead.assigned': return d.agent_id === me ? `Lead ${d.lead_id} assigned to you` : '';
    case 'points.awarded': return `+${d.points} points${d.rule_id ? ` (${d.rule_id})` : ''}`;
    case 'points.reversed': return `-${d.points} points${d.reason ? ` (${d.reason})` : ''}`;
    case 'badge.awarded': return `Badge earned: ${d.badge_name || d.badge_id}${d.tier ? ` (${d.tier})` : ''}`;
    case 'challenge.won': return `Challenge won: ${d.challenge_id}`;
    case 'agent.state_changed': return `You are ${LABELS[d.state] ? LABELS[d.state].toLowerCase() : d.state}${d.pause_reason ? ` (${d.pause_reason})` : ''}`;
    case 'agent.logged_in': return 'You logged in';
    case 'agent.logged_out': return 'You logged out';
    default: return '';
  }
}

// Available / Pause (with a reason): agent.state_changed posted as me.
function stateControls(ctx, m) {
  const {h} = ctx;
  const reason = h('select', {'aria-label': 'Pause reason', 'data-testid': 'md-reason'},
    REASONS.map((r) => h('option', {value: r}, r)));
  const msg = h('span', {role: 'status', class: 'muted'});
  const post = async (state) => {
    const data = {agent_id: m.me, state};
    if (state === 'paused') data.pause_reason = reason.value;
    msg.textContent = '';
    try {
      await ctx.postEvents([{specversion: '1.0', id: ctx.ulid(), type: 'agent.state_changed',
        source: '/dashboard', subject: m.me, time: new Date().toISOString(), data}]);
    } catch (e) { msg.textContent = `Not changed: ${e.message}`; }
  };
  return h('div', {class: 'toolbar'},
    h('button', {type: 'button', 'data-testid': 'md-available', onclick: () => post('available')}, 'Available'),
    reason, h('button', {type: 'button', class: 'secondary', 'data-testid': 'md-pause', onclick: () => post('paused')}, 'Pause'),
    msg);
}
