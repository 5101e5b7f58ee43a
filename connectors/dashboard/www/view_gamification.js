// Gamification (agents, supervisors, managers, admins): a leaderboard of a
// span (today, this week, this month, all time) and scope (the tenant, a
// team, a campaign), an agent's own place with its neighbours ("around
// me"), its balance and badges, the challenges of the tenant with their
// windows counting down, and the rewards queue: managers and admins
// approve or deny a held redemption from here (reward.redemption_decided,
// posted with the session; the server checks the role and the gamification
// processor decides whether the balance still covers it).
//
// Where each number comes from: the gamification processor's read views
// (GET /v1/projections/gamification/leaderboard, around_me, balances,
// badges, challenges, challenge_windows, challenge_standings, redemptions,
// teams, team_members), scoped by the server: an agent reads the boards
// and the challenges whole, its own balance, badges, ledger and
// redemptions only (the page asks for its own, the server answers no
// other). The feed (sb.gamification: each agent its own points, badges,
// rank changes and challenge scores) moves the rows it names at once; the
// boards are re-read shortly after (at most every 2 s), since one agent's
// move shifts others whose pushes an agent does not receive.

const TOP = 20;              // rows of the board shown
const MAX_FEED = 25;         // recent points and badges listed
const MAX_SEEN = 4000;       // event ids remembered to drop repeats
const MAX_REDEMPTIONS = 200; // redemptions shown (newest)
const REREAD_MIN_MS = 2000;
const REREAD_DELAY_MS = 500;
const SPANS = [['day', 'Today'], ['week', 'This week'], ['month', 'This month'], ['all', 'All time']];
const DECIDABLE = new Set(['requested', 'held']);
// each event type's field that its CloudEvent carries as its subject
const SUBJECT = {
  'points.awarded': 'agent_id', 'points.reversed': 'agent_id', 'badge.awarded': 'agent_id',
  'leaderboard.rank_changed': 'agent_id', 'reward.redemption_settled': 'agent_id',
  'challenge.created': 'challenge_id', 'challenge.opened': 'challenge_id', 'challenge.closed': 'challenge_id',
  'challenge.score_updated': 'challenge_id', 'challenge.won': 'challenge_id',
  'reward.redemption_requested': 'redemption_id', 'reward.redemption_decided': 'redemption_id',
};

const num = (x) => (x === null || x === undefined || x === '' ? null : Number(x));

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// the board's period for a span, from the local day (the processor's: ISO
// week from its Monday, the month from its first, all time 1970-01-01)
function periodOf(span, day) {
  if (span === 'day') return day;
  if (span === 'month') return `${day.slice(0, 8)}01`;
  if (span === 'all') return '1970-01-01';
  const dow = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday 0
  return addDays(day, -dow);
}

function isManager(role) { return role === 'manager' || role === 'admin'; }

// the views' own rules (biz.css), added to the page once
function stylesheet(ctx) {
  if (!document.querySelector('link[href="/ui/biz.css"]'))
    document.head.append(ctx.h('link', {rel: 'stylesheet', href: '/ui/biz.css'}));
}

export default {
  feed: {
    topics: ['sb.gamification'],
    types: ['points.awarded', 'points.reversed', 'badge.awarded', 'leaderboard.rank_changed',
      'challenge.created', 'challenge.opened', 'challenge.closed', 'challenge.score_updated',
      'challenge.won', 'reward.redemption_requested', 'reward.redemption_decided',
      'reward.redemption_settled'],
  },

  async load(ctx) {
    const role = ctx.session.role, me = ctx.session.sub, agent = role === 'agent';
    const prev = ctx.root.querySelector('#gam-span');
    const span = prev ? prev.value : 'day';
    const prevScope = ctx.root.querySelector('#gam-scope');
    const today = ctx.fmt.day(ctx.now(), ctx.tz);
    const [teams, mine] = await Promise.all([
      ctx.getAll('/v1/projections/gamification/teams', {}, 1000),
      agent ? ctx.get('/v1/projections/gamification/team_members', {agent: me}) : null,
    ]);
    const myTeam = mine && mine.rows[0] ? mine.rows[0].team_id : '';
    const model = {
      role, me, agent, span, today, teams, myTeam,
      scope: prevScope ? prevScope.value : 'tenant:',
      board: [], around: [], balance: null, badges: [], challenges: [], windows: new Map(),
      standings: new Map(), redemptions: new Map(), recent: [], seen: new Set(),
      pending: new Map(), // redemption id -> decision posted, awaiting its settlement
      reread: {timer: null, last: 0, followUp: false, what: new Set()},
      els: {},
    };
    const campaigns = await ctx.get('/v1/projections/gamification/leaderboard',
      {span: 'all', period: '1970-01-01', scope: 'campaign', limit: 1000});
    model.campaigns = [...new Set(campaigns.rows.map((r) => r.scope_id))].sort();
    await Promise.all([this.readBoard(ctx, model), this.readMine(ctx, model),
      this.readChallenges(ctx, model), this.readRedemptions(ctx, model)]);
    return model;
  },

  // ---- reads --------------------------------------------------------------

  boardParams(model) {
    const [scope, id] = model.scope.split(/:(.*)/s);
    const p = {span: model.span, period: periodOf(model.span, model.today), scope};
    if (scope === 'team') p.team = id;
    if (scope === 'campaign') p.campaign = id;
    return p;
  },

  async readBoard(ctx, model) {
    const p = this.boardParams(model);
    const [board, around] = await Promise.all([
      ctx.get('/v1/projections/gamification/leaderboard', {...p, limit: TOP}),
      model.agent ? ctx.getAll('/v1/projections/gamification/around_me', p, 100) : null,
    ]);
    model.board = board.rows;
    model.boardOf = board.rows[0] ? num(board.rows[0].of_agents) : 0;
    model.around = around || [];
    model.boardKey = JSON.stringify(p);
  },

  async readMine(ctx, model) {
    if (model.agent) {
      const [bal, badges] = await Promise.all([
        ctx.get('/v1/projections/gamification/balances', {agent: model.me}),
        ctx.getAll('/v1/projections/gamification/badges', {agent: model.me}, 500),
      ]);
      model.balance = bal.rows[0] || {balance: 0, earned: 0, reversed: 0, redeemed: 0};
      model.badges = badges;
    } else {
      const since = new Date(ctx.now() - 7 * 24 * 3600 * 1000).toISOString();
      const badges = await ctx.getAll('/v1/projections/gamification/badges', {from: since}, 2000);
      model.badges = badges.sort((a, b) => ctx.ms(b.awarded_at) - ctx.ms(a.awarded_at)).slice(0, 50);
    }
  },

  async readChallenges(ctx, model) {
    const since = new Date(ctx.now() - 35 * 24 * 3600 * 1000).toISOString();
    const [challenges, windows] = await Promise.all([
      ctx.getAll('/v1/projections/gamification/challenges', {}, 500),
      ctx.getAll('/v1/projections/gamification/challenge_windows', {from: since}, 5000),
    ]);
    model.challenges = challenges;
    // each challenge's current window: the newest opened and not closed,
    // else its newest
    model.windows = new Map();
    for (const w of windows) {
      const cur = model.windows.get(w.challenge_id);
      const open = !w.closed_at;
      if (!cur || (open && cur.closed_at) || (open === !cur.closed_at && ctx.ms(w.window_start) > ctx.ms(cur.window_start)))
        model.windows.set(w.challenge_id, w);
    }
    model.standings = new Map();
    await Promise.all([...model.windows.values()].map(async (w) => {
      // the standings' window_start is the window's first local day
      const first = ctx.fmt.day(ctx.ms(w.window_start), ctx.tz);
      const s = await ctx.get('/v1/projections/gamification/challenge_standings',
        {challenge: w.challenge_id, from: first, to: addDays(first, 1), limit: 10});
      model.standings.set(w.challenge_id, s.rows);
    }));
  },

  async readRedemptions(ctx, model) {
    const since = new Date(ctx.now() - 30 * 24 * 3600 * 1000).toISOString();
    const rows = await ctx.getAll('/v1/projections/gamification/redemptions',
      model.agent ? {agent: model.me, from: since} : {from: since}, 5000);
    model.redemptions = new Map(rows.slice(-MAX_REDEMPTIONS).map((r) => [r.redemption_id, r]));
  },

  // ---- drawing --------------------------------------------------------------

  render(ctx, model) {
    const {h} = ctx;
    stylesheet(ctx);
    const spanSel = h('select', {id: 'gam-span', 'aria-label': 'Leaderboard span',
      onchange: () => { model.span = spanSel.value; this.reread(ctx, model, ['board']); }},
    SPANS.map(([v, t]) => h('option', {value: v, selected: v === model.span}, t)));
    const scopeSel = h('select', {id: 'gam-scope', 'aria-label': 'Leaderboard scope',
      onchange: () => { model.scope = scopeSel.value; this.reread(ctx, model, ['board']); }},
    h('option', {value: 'tenant:'}, 'Whole centre'),
    model.teams.length ? h('optgroup', {label: 'Teams'}, model.teams.map((t) =>
      h('option', {value: `team:${t.team_id}`}, `${t.name || t.team_id}${t.team_id === model.myTeam ? ' (mine)' : ''}`))) : null,
    model.campaigns.length ? h('optgroup', {label: 'Campaigns'}, model.campaigns.map((c) =>
      h('option', {value: `campaign:${c}`}, c))) : null);
    scopeSel.value = model.scope;
    if (scopeSel.value !== model.scope) { model.scope = 'tenant:'; scopeSel.value = 'tenant:'; }
    const E = model.els = {
      span: spanSel, scope: scopeSel,
      board: h('tbody'), boardOf: h('span', {class: 'muted', 'data-testid': 'board-of'}),
      around: h('tbody'), mine: h('div', {class: 'grid', 'data-testid': 'my-points'}),
      badges: h('ul', {class: 'badges', 'data-testid': 'badges'}),
      challenges: h('div', {class: 'challenges', 'data-testid': 'challenges'}),
      redemptions: h('tbody'), recent: h('ol', {class: 'activity', 'data-testid': 'recent-points'}),
      status: h('p', {class: 'muted', role: 'status', 'aria-live': 'polite', 'data-testid': 'decision-status'}),
    };
    const table = (testid, head, body) => h('table', {'data-testid': testid},
      h('thead', {}, h('tr', {}, head.map(([t, c]) => h('th', {scope: 'col', class: c || null}, t)))), body);
    const boardHead = [['Rank', 'num'], ['Agent'], ['Points', 'num'], ['Last points']];
    ctx.root.append(h('div', {class: 'gam-view'}, // h() leaves out the nulls
      h('div', {class: 'toolbar'}, h('h1', {}, 'Gamification'),
        h('label', {}, 'Board ', spanSel), h('label', {}, 'of ', scopeSel)),
      model.agent ? E.mine : null,
      h('div', {class: 'gam-cols'},
        h('section', {class: 'panel', 'aria-labelledby': 'board-h'},
          h('h2', {id: 'board-h'}, 'Leaderboard, top ', String(TOP), ' ', E.boardOf),
          h('div', {class: 'scroll'}, table('leaderboard', boardHead, E.board))),
        model.agent ? h('section', {class: 'panel', 'aria-labelledby': 'around-h'},
          h('h2', {id: 'around-h'}, 'Around me'),
          table('around-me', boardHead, E.around)) : null,
        h('section', {class: 'panel', 'aria-labelledby': 'chal-h'},
          h('h2', {id: 'chal-h'}, 'Challenges'), E.challenges)),
      h('div', {class: 'gam-cols'},
        h('section', {class: 'panel', 'aria-labelledby': 'badge-h'},
          h('h2', {id: 'badge-h'}, model.agent ? 'My badges' : 'Badges of the last 7 days'), E.badges),
        h('section', {class: 'panel', 'aria-labelledby': 'recent-h'},
          h('h2', {id: 'recent-h'}, model.agent ? 'My points as they come' : 'Points as they come'), E.recent)),
      h('section', {class: 'panel', 'aria-labelledby': 'red-h'},
        h('h2', {id: 'red-h'}, model.agent ? 'My reward redemptions' : 'Rewards queue'),
        isManager(model.role) || model.agent ? null
          : h('p', {class: 'muted', 'data-testid': 'no-decide'}, 'Managers approve or deny redemptions; this list is read only.'),
        E.status,
        h('div', {class: 'scroll'}, table('redemptions',
          [['Requested'], ['Agent'], ['Reward'], ['Cost', 'num'], ['Status'], ['Why'],
            ...(isManager(model.role) ? [['Decide']] : [])], E.redemptions)))));
    this.drawBoard(ctx, model);
    this.drawMine(ctx, model);
    this.drawChallenges(ctx, model);
    ctx.fill(E.badges);
    for (const b of model.badges) E.badges.append(this.badgeItem(ctx, model, b));
    if (!model.badges.length) E.badges.append(h('li', {class: 'muted none'}, 'No badges yet.'));
    this.drawRedemptions(ctx, model);
    E.recent.append(h('li', {class: 'muted none'}, 'Nothing since this page opened.'));
  },

  boardRow(ctx, model, r) {
    const {h, fmt} = ctx;
    const mine = r.agent_id === model.me;
    return h('tr', {dataset: {agent: r.agent_id, rank: String(r.rank), points: String(r.points)},
      class: mine ? 'me' : null, 'aria-current': mine ? 'true' : null},
    h('td', {class: 'num'}, String(r.rank)),
    h('th', {scope: 'row'}, r.agent_id, mine ? ' (me)' : ''),
    h('td', {class: 'num'}, fmt.num(r.points)),
    h('td', {}, r.reached_at ? fmt.time(ctx.ms(r.reached_at), ctx.tz) : '–'));
  },

  drawBoard(ctx, model) {
    const {fill, h} = ctx, E = model.els;
    const rows = model.board.slice().sort((a, b) => a.rank - b.rank);
    fill(E.board, rows.length ? rows.map((r) => this.boardRow(ctx, model, r))
      : h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'Nobody has points on this board yet.')));
    fill(E.boardOf, model.boardOf ? `of ${model.boardOf} agents` : '');
    E.board.dataset.board = model.boardKey;
    if (model.agent) {
      const around = model.around.slice().sort((a, b) => a.rank - b.rank);
      fill(E.around, around.length ? around.map((r) => this.boardRow(ctx, model, r))
        : h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'You are not on this board yet.')));
    }
  },

  drawMine(ctx, model) {
    if (!model.agent) return;
    const {h, fill, fmt} = ctx, b = model.balance || {};
    const me = model.around.find((r) => r.agent_id === model.me);
    const tile = (id, label, v) => h('div', {class: 'panel tile', 'data-testid': `my-${id}`, dataset: {value: String(v ?? '')}},
      h('div', {class: 'value'}, v === null || v === undefined ? '–' : fmt.num(v)), h('div', {class: 'label'}, label));
    fill(model.els.mine,
      tile('balance', 'Points to spend', num(b.balance)),
      tile('earned', 'Earned, all time', num(b.earned)),
      tile('redeemed', 'Redeemed', num(b.redeemed)),
      tile('rank', `My rank (${SPANS.find((s) => s[0] === model.span)[1].toLowerCase()})`, me ? me.rank : null));
  },

  badgeItem(ctx, model, b) {
    const {h, fmt} = ctx;
    return h('li', {dataset: {agent: b.agent_id, badge: b.badge_id, tier: b.tier || ''}, class: `tier-${b.tier || 'once'}`},
      h('strong', {}, b.badge_name || b.badge_id), ` · ${b.tier || ''}`,
      model.agent ? '' : ` · ${b.agent_id}`,
      b.awarded_at ? h('span', {class: 'muted'}, ` · ${fmt.time(ctx.ms(b.awarded_at), ctx.tz)}`) : null);
  },

  drawChallenges(ctx, model) {
    const {h, fill, fmt} = ctx;
    const list = model.challenges.slice().sort((a, b) => String(a.challenge_id).localeCompare(b.challenge_id));
    fill(model.els.challenges, list.length ? list.map((c) => {
      const w = model.windows.get(c.challenge_id);
      const end = w ? ctx.ms(w.window_end) : NaN;
      const rows = (model.standings.get(c.challenge_id) || []).slice().sort((a, b) => a.place - b.place);
      return h('article', {class: 'challenge', dataset: {challenge: c.challenge_id, end: Number.isFinite(end) ? String(end) : '',
        closed: w && w.closed_at ? 'true' : 'false'}},
      h('h3', {}, c.name || c.challenge_id),
      h('p', {class: 'muted'}, `${c.kind}, ${c.period}${c.team_based ? ', teams' : ''}` +
        `${c.metric && c.metric !== 'points' ? `, ${c.metric}` : ''}` +
        `${c.target_score ? `, first to ${fmt.num(c.target_score)}` : ''}`),
      h('p', {class: 'countdown', 'data-testid': 'countdown'}, this.countdown(ctx, w, ctx.now())),
      h('ol', {class: 'standings'}, rows.length ? rows.slice(0, 5).map((s) =>
        h('li', {dataset: {participant: s.participant_id, score: String(s.score)},
          class: s.participant_id === model.me || s.participant_id === model.myTeam ? 'me' : null},
        `${s.participant_id}: ${fmt.num(s.score)}`)) : h('li', {class: 'muted'}, 'No score yet in this window.')));
    }) : h('p', {class: 'muted'}, 'No challenges.'));
  },

  countdown(ctx, w, now) {
    if (!w) return 'no window open yet';
    if (w.closed_at) return `window closed ${ctx.fmt.time(ctx.ms(w.closed_at), ctx.tz)}`;
    const left = ctx.ms(w.window_end) - now;
    return left > 0 ? `ends in ${ctx.fmt.dur(left)}` : 'closing…';
  },

  redemptionRow(ctx, model, r) {
    const {h, fmt} = ctx;
    const pend = model.pending.get(r.redemption_id);
    const canDecide = isManager(model.role) && DECIDABLE.has(r.status) && !pend;
    const btn = (decision, label) => h('button', {type: 'button', class: decision === 'rejected' ? 'secondary' : null,
      dataset: {decision}, onclick: () => this.decide(ctx, model, r, decision)}, label);
    const why = r.status === 'insufficient' || r.status === 'invalid' || r.status === 'rejected'
      ? (r.reason || '') : r.status === 'approved' && r.balance_after !== null && r.balance_after !== undefined
        ? `balance after: ${fmt.num(r.balance_after)}` : pend ? `${pend} sent, awaiting the processor` : '';
    return h('tr', {dataset: {redemption: r.redemption_id, status: r.status, agent: r.agent_id}},
      h('td', {}, r.requested_at ? fmt.time(ctx.ms(r.requested_at), ctx.tz) : '–'),
      h('td', {}, r.agent_id),
      h('td', {}, r.reward_id),
      h('td', {class: 'num'}, fmt.num(r.points_cost)),
      h('td', {class: `status status-${r.status}`}, r.status),
      h('td', {class: 'why'}, why),
      isManager(model.role) ? h('td', {}, canDecide ? [btn('approved', 'Approve'), ' ', btn('rejected', 'Deny')] : '') : null);
  },

  drawRedemptions(ctx, model) {
    const {h, fill} = ctx;
    const rows = [...model.redemptions.values()].sort((a, b) =>
      ctx.ms(b.requested_at) - ctx.ms(a.requested_at) || String(a.redemption_id).localeCompare(b.redemption_id));
    fill(model.els.redemptions, rows.length ? rows.map((r) => this.redemptionRow(ctx, model, r))
      : h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No redemptions.')));
  },

  redrawRedemption(ctx, model, id) {
    const r = model.redemptions.get(id);
    const old = model.els.redemptions.querySelector(`tr[data-redemption="${CSS.escape(id)}"]`);
    if (!r) return;
    const row = this.redemptionRow(ctx, model, r);
    if (old) old.replaceWith(row);
    else this.drawRedemptions(ctx, model);
  },

  // A manager's decision, posted with the session cookie; the processor
  // settles it (approved, or insufficient when the balance no longer
  // covers it; rejected) and its settlement comes back on the feed.
  async decide(ctx, model, r, decision) {
    const E = model.els;
    model.pending.set(r.redemption_id, decision === 'approved' ? 'approval' : 'denial');
    this.redrawRedemption(ctx, model, r.redemption_id);
    const ev = {specversion: '1.0', id: ctx.ulid(), type: 'reward.redemption_decided',
      source: '/dashboard/gamification', subject: r.redemption_id, time: new Date(ctx.now()).toISOString(),
      data: {redemption_id: r.redemption_id, decision, agent_id: r.agent_id, reward_id: r.reward_id,
        points_cost: num(r.points_cost), reason: decision === 'rejected' ? `denied by ${ctx.session.sub}` : null}};
    try {
      await ctx.postEvents([ev]);
      E.status.classList.remove('error');
      // the settlement may have come back on the feed before this answer
      if (model.pending.has(r.redemption_id))
        ctx.fill(E.status, `${decision === 'approved' ? 'Approval' : 'Denial'} of ${r.redemption_id} sent.`);
    } catch (e) {
      model.pending.delete(r.redemption_id);
      this.redrawRedemption(ctx, model, r.redemption_id);
      ctx.fill(E.status, `The decision on ${r.redemption_id} was refused: ${e.message}`);
      E.status.classList.add('error');
    }
  },

  // ---- re-reads -------------------------------------------------------------

  async reread(ctx, model, what) {
    model.reread.last = ctx.now();
    const E = model.els;
    try {
      model.today = ctx.fmt.day(ctx.now(), ctx.tz);
      const jobs = [];
      if (what.includes('board')) jobs.push(this.readBoard(ctx, model));
      if (what.includes('mine')) jobs.push(this.readMine(ctx, model));
      if (what.includes('challenges')) jobs.push(this.readChallenges(ctx, model));
      if (what.includes('redemptions')) jobs.push(this.readRedemptions(ctx, model));
      await Promise.all(jobs);
      if (!E.board.isConnected) return; // a newer snapshot replaced this one
      if (what.includes('board')) this.drawBoard(ctx, model);
      if (what.includes('board') || what.includes('mine')) this.drawMine(ctx, model);
      if (what.includes('mine')) {
        ctx.fill(E.badges);
        for (const b of model.badges) E.badges.append(this.badgeItem(ctx, model, b));
      }
      if (what.includes('challenges')) this.drawChallenges(ctx, model);
      if (what.includes('redemptions')) this.drawRedemptions(ctx, model);
    } catch (e) {
      if (!E.board.isConnected) return;
      ctx.fill(E.status, `Could not re-read: ${e.message}`);
    }
  },

  schedule(ctx, model, what) {
    const r = model.reread;
    for (const w of what) r.what.add(w);
    r.followUp = true;
    if (r.timer) return;
    const run = async () => {
      r.timer = null;
      const again = r.followUp, list = [...r.what];
      r.followUp = false;
      r.what.clear();
      await this.reread(ctx, model, list);
      if (again && !r.timer && model.els.board.isConnected) {
        for (const w of list) r.what.add(w);
        r.timer = setTimeout(run, REREAD_MIN_MS);
      }
    };
    r.timer = setTimeout(run, Math.max(ctx.now() + REREAD_DELAY_MS, r.last + REREAD_MIN_MS) - ctx.now());
  },

  leave(ctx, model) {
    if (model && model.reread.timer) clearTimeout(model.reread.timer);
  },

  // ---- the feed -------------------------------------------------------------

  seen(model, id) {
    if (!id) return false;
    if (model.seen.has(id)) return true;
    model.seen.add(id);
    if (model.seen.size > MAX_SEEN) model.seen.delete(model.seen.values().next().value);
    return false;
  },

  event(ctx, model, ev) {
    if (this.seen(model, ev.id)) return;
    // the JSON form carries the schema's subject field as the subject
    const x = {[SUBJECT[ev.type] || 'subject']: ev.subject, ...(ev.data || {})}, t = ctx.ms(ev.time);
    switch (ev.type) {
      case 'points.awarded':
      case 'points.reversed':
        this.addRecent(ctx, model, ev, x);
        if (x.rule_id === 'redemption') { this.schedule(ctx, model, ['mine', 'redemptions']); break; }
        this.movePoints(ctx, model, x, ev.type === 'points.reversed' ? -num(x.points) : num(x.points), t);
        this.schedule(ctx, model, ['board', 'mine']);
        break;
      case 'leaderboard.rank_changed':
        this.moveRank(ctx, model, x, t);
        this.schedule(ctx, model, ['board']);
        break;
      case 'badge.awarded':
        this.addBadge(ctx, model, {agent_id: x.agent_id, badge_id: x.badge_id, badge_name: x.badge_name,
          tier: x.tier || 'once', awarded_at: ev.time});
        this.addRecent(ctx, model, ev, x);
        break;
      case 'challenge.score_updated':
        this.moveScore(ctx, model, x, t);
        break;
      case 'challenge.created': case 'challenge.opened': case 'challenge.closed': case 'challenge.won':
        this.schedule(ctx, model, ['challenges']);
        break;
      case 'reward.redemption_requested':
        if (!model.redemptions.has(x.redemption_id)) {
          model.redemptions.set(x.redemption_id, {redemption_id: x.redemption_id, agent_id: x.agent_id,
            reward_id: x.reward_id, points_cost: x.points_cost, requested_at: ev.time, status: 'requested'});
          this.redrawRedemption(ctx, model, x.redemption_id);
        }
        break;
      case 'reward.redemption_decided':
        break; // its settlement says what became of it
      case 'reward.redemption_settled': {
        const r = model.redemptions.get(x.redemption_id);
        if (x.status === 'ignored') { // a decision on one not held: its status stands
          if (model.pending.delete(x.redemption_id)) {
            ctx.fill(model.els.status, `${x.redemption_id}: ${x.reason || 'not held'}; nothing changed.`);
            this.redrawRedemption(ctx, model, x.redemption_id);
          }
          break;
        }
        if (!r) { this.schedule(ctx, model, ['redemptions']); break; }
        if (r.settled_at && ctx.ms(r.settled_at) > t) break; // older than what we show
        Object.assign(r, {status: x.status, reason: x.reason, balance_after: x.balance, settled_at: ev.time});
        if (model.pending.delete(x.redemption_id))
          ctx.fill(model.els.status, `${x.redemption_id}: ${x.status}${x.reason ? ` (${x.reason})` : ''}.`);
        this.redrawRedemption(ctx, model, x.redemption_id);
        if (model.agent) this.schedule(ctx, model, ['mine']);
        break;
      }
      default:
    }
  },

  addRecent(ctx, model, ev, x) {
    const {h, fmt} = ctx, t = ctx.ms(ev.time);
    const text = ev.type === 'badge.awarded' ? `badge ${x.badge_name || x.badge_id}${x.tier ? ` (${x.tier})` : ''}`
      : `${ev.type === 'points.reversed' ? '−' : '+'}${fmt.num(x.points)} ${x.rule_name || x.rule_id || ''}`;
    model.recent.unshift(ev.id);
    const none = model.els.recent.querySelector('li.none');
    if (none) none.remove();
    model.els.recent.prepend(h('li', {dataset: {type: ev.type, agent: x.agent_id || '', id: ev.id, at: String(t)}},
      h('time', {datetime: new Date(t).toISOString()}, fmt.time(t, ctx.tz)), ' ',
      model.agent ? '' : h('strong', {}, `${x.agent_id} `), text));
    while (model.recent.length > MAX_FEED) {
      model.recent.pop();
      model.els.recent.lastElementChild.remove();
    }
  },

  onBoard(model, x) {
    const p = this.boardParams(model);
    const id = x.scope === 'tenant' ? '' : x.scope_id || '';
    const want = p.scope === 'team' ? p.team : p.scope === 'campaign' ? p.campaign : '';
    return x.span === p.span && x.period === p.period && x.scope === p.scope && id === want;
  },

  // a board's row moved by the agent's own push; the rows between are
  // re-read (their agents' pushes need not reach this feed)
  moveRank(ctx, model, x, t) {
    if (!this.onBoard(model, x)) return;
    for (const rows of [model.board, model.around]) {
      const r = rows.find((y) => y.agent_id === x.agent_id);
      if (r && r.reached_at && ctx.ms(r.reached_at) > t) continue; // older than the row
      if (r) Object.assign(r, {rank: x.new_rank, points: x.points, reached_at: new Date(t).toISOString()});
      else if (rows === model.board && x.new_rank <= TOP)
        rows.push({agent_id: x.agent_id, rank: x.new_rank, points: x.points, reached_at: new Date(t).toISOString()});
    }
    model.boardOf = Math.max(model.boardOf || 0, num(x.of_agents) || 0);
    this.drawBoard(ctx, model);
    this.drawMine(ctx, model);
  },

  // points of an entry: added to the agent's row when the entry falls in
  // the board's period and scope and is newer than the row
  movePoints(ctx, model, x, pts, t) {
    if (!Number.isFinite(pts)) return;
    const p = this.boardParams(model);
    const day = ctx.fmt.day(t, ctx.tz);
    if (periodOf(p.span, day) !== p.period) return;
    if (p.scope === 'campaign') return; // points.* does not say the campaign: re-read
    if (p.scope === 'team' && x.team_id !== p.team) return;
    for (const rows of [model.board, model.around]) {
      const r = rows.find((y) => y.agent_id === x.agent_id);
      if (!r || (r.reached_at && ctx.ms(r.reached_at) >= t)) continue;
      r.points = num(r.points) + pts;
      r.reached_at = new Date(t).toISOString();
    }
    if (model.agent && x.agent_id === model.me && model.balance &&
        !(model.balance.updated_at && ctx.ms(model.balance.updated_at) >= t)) {
      model.balance.balance = Math.max(0, (num(model.balance.balance) || 0) + pts);
      if (pts > 0) model.balance.earned = (num(model.balance.earned) || 0) + pts;
      model.balance.updated_at = new Date(t).toISOString();
    }
    this.drawBoard(ctx, model);
    this.drawMine(ctx, model);
  },

  addBadge(ctx, model, b) {
    if (model.agent && b.agent_id !== model.me) return;
    if (model.badges.some((y) => y.agent_id === b.agent_id && y.badge_id === b.badge_id && (y.tier || 'once') === b.tier)) return;
    model.badges.unshift(b);
    const none = model.els.badges.querySelector('li.none');
    if (none) none.remove();
    model.els.badges.prepend(this.badgeItem(ctx, model, b));
    if (!model.agent && model.badges.length > 50) {
      model.badges.pop();
      model.els.badges.lastElementChild.remove();
    }
  },

  moveScore(ctx, model, x, t) {
    const w = model.windows.get(x.challenge_id);
    const who = x.agent_id || x.team_id;
    if (!w || !who || (x.window_start && ctx.ms(x.window_start) !== ctx.ms(w.window_start))) {
      this.schedule(ctx, model, ['challenges']);
      return;
    }
    const rows = model.standings.get(x.challenge_id) || [];
    let r = rows.find((y) => y.participant_id === who);
    if (r && r.reached_at && ctx.ms(r.reached_at) > t) return;
    if (!r) rows.push(r = {participant_id: who});
    Object.assign(r, {score: num(x.score), reached_at: new Date(t).toISOString()});
    rows.sort((a, b) => b.score - a.score || ctx.ms(a.reached_at) - ctx.ms(b.reached_at));
    rows.forEach((y, i) => { y.place = i + 1; });
    model.standings.set(x.challenge_id, rows);
    this.drawChallenges(ctx, model);
    this.schedule(ctx, model, ['challenges']);
  },

  tick(ctx, model, now) {
    for (const a of model.els.challenges.querySelectorAll('article.challenge')) {
      const w = model.windows.get(a.dataset.challenge);
      const p = a.querySelector('.countdown');
      if (p) p.textContent = this.countdown(ctx, w, now);
    }
    const day = ctx.fmt.day(now, ctx.tz);
    if (day !== model.today) { model.today = day; this.schedule(ctx, model, ['board', 'challenges']); }
  },
};
