// Campaigns & leads (managers, admins): the lead funnel by source and
// status, each campaign's spend, pacing, cost per lead and per acquisition
// and ROI, today against the same weekday last week and the last 7 days
// against the 7 before, and routing's waiting queue and decisions with
// their explanations.
//
// Where each number comes from: every figure is the analytics processor's
// (GET /v1/analytics/campaigns, campaigns_daily, funnel, trends) and is never
// computed here; after an event of its family arrives on the feed the page
// re-reads them (at most every 2 s, once more 2 s later for the processor
// to have committed). The waiting queue and the decisions are routing's
// (GET /v1/projections/assignment/waiting and /decisions), updated from each
// routing.decision as it arrives and re-read the same way. The lead
// activity list is the feed's own events.

const MAX_DECISIONS = 100;    // decisions kept on the page, newest first
const MAX_WAITING = 500;      // waiting leads shown (the count is exact)
const MAX_ACTIVITY = 30;      // lead and campaign events listed
const MAX_SEEN = 4000;        // event ids remembered to drop repeats
const REREAD_MIN_MS = 2000;   // analytics re-read at most this often
const REREAD_DELAY_MS = 400;  // first re-read this long after an event
const TREND_DAYS = 14;
const STAGES = ['new', 'contacted', 'working', 'nurturing', 'qualified', 'appointment_set', 'converted'];
const TREND_METRICS = [
  ['leads_created', 'Leads created', 'num'],
  ['spend_cents', 'Spend', 'cents'],
  ['sales', 'Sales', 'num'],
  ['revenue_cents', 'Revenue', 'cents'],
  ['calls_handled', 'Calls handled', 'num'],
  ['service_level', 'Service level', 'pct'],
  ['abandon_rate', 'Abandon rate', 'pct'],
  ['aht_s', 'Average handle time (s)', 'dec'],
];

const num = (x) => (x === null || x === undefined || x === '' ? null : Number(x));
const cents = (x, fmt) => (num(x) === null ? '–' : fmt.money(num(x) / 100));

function dayShift(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function seen(model, id) {
  if (!id) return false;
  if (model.seen.has(id)) return true;
  model.seen.add(id);
  if (model.seen.size > MAX_SEEN) model.seen.delete(model.seen.values().next().value);
  return false;
}

// ---- the snapshot ---------------------------------------------------------

async function readFigures(ctx, campaign) {
  const today = ctx.fmt.day(ctx.now(), ctx.tz);
  const from = dayShift(today, -(TREND_DAYS - 1)), to = dayShift(today, 1);
  const c = campaign || undefined;
  const [campaigns, daily, funnel, trends] = await Promise.all([
    ctx.getAll('/v1/analytics/campaigns', {campaign: c}, 1000),
    ctx.getAll('/v1/analytics/campaigns_daily', {campaign: c, from, to}, 5000),
    ctx.getAll('/v1/analytics/funnel', {campaign: c}, 5000),
    ctx.getAll('/v1/analytics/trends', {from, to}, 1000),
  ]);
  return {campaigns, daily, funnel, trends, today, from, readAt: ctx.now()};
}

async function readRouting(ctx) {
  const since = new Date(ctx.now() - 24 * 3600 * 1000).toISOString();
  const [waiting, decisions] = await Promise.all([
    ctx.getAll('/v1/projections/assignment/waiting', {}, MAX_WAITING),
    ctx.getAll('/v1/projections/assignment/decisions', {from: since}, 5000),
  ]);
  return {waiting, decisions: decisions.slice(-MAX_DECISIONS).reverse()};
}

function decisionKey(d) {
  return `${d.lead_id || ''}|${d.outcome}|${d.agent_id || ''}|${ctxMs(d.decided_at)}`;
}
function ctxMs(t) { return typeof t === 'number' ? t : Date.parse(t); }

// the views' own rules (biz.css), added to the page once
function stylesheet(ctx) {
  if (!document.querySelector('link[href="/ui/biz.css"]'))
    document.head.append(ctx.h('link', {rel: 'stylesheet', href: '/ui/biz.css'}));
}

export default {
  feed: {
    topics: ['sb.leads', 'sb.campaigns', 'sb.calls', 'sb.routing'],
    types: ['lead.*', 'campaign.*', 'call.ended', 'call.dispositioned', 'routing.decision'],
  },

  async load(ctx) {
    const prev = ctx.root.querySelector('#camp-filter');
    const campaign = prev ? prev.value : '';
    const [fig, rt] = await Promise.all([readFigures(ctx, campaign), readRouting(ctx)]);
    const model = {
      campaign, fig, waiting: new Map(), lastChange: new Map(),
      decisions: [], decisionKeys: new Set(), activity: [], seen: new Set(),
      reread: {timer: null, last: ctx.now(), followUp: false, routing: false},
      live: {leads: 0, spend: 0, decisions: 0},
      els: {},
    };
    for (const w of rt.waiting) {
      model.waiting.set(w.lead_id, w);
      model.lastChange.set(w.lead_id, ctx.ms(w.waiting_since));
    }
    for (const d of rt.decisions) {
      model.decisions.push(d);
      model.decisionKeys.add(decisionKey(d));
      if (d.lead_id && !(model.lastChange.get(d.lead_id) >= ctx.ms(d.decided_at)))
        model.lastChange.set(d.lead_id, ctx.ms(d.decided_at));
    }
    return model;
  },

  render(ctx, model) {
    const {h} = ctx;
    stylesheet(ctx);
    const filter = h('select', {id: 'camp-filter', 'aria-label': 'Campaign',
      onchange: () => this.refilter(ctx, model)},
      h('option', {value: ''}, 'All campaigns'));
    model.els = {
      filter,
      updated: h('span', {class: 'muted', 'data-testid': 'figures-read-at'}),
      tiles: h('div', {class: 'grid', 'data-testid': 'campaign-tiles'}),
      campaigns: h('tbody'),
      funnel: h('div', {'data-testid': 'funnel'}),
      trends: h('tbody'),
      waitingCount: h('span', {'data-testid': 'waiting-count'}),
      waiting: h('tbody'),
      decisions: h('ol', {class: 'decisions', 'data-testid': 'decisions'}),
      activity: h('ol', {class: 'activity', 'data-testid': 'lead-activity'}),
      live: h('span', {'data-testid': 'live-counts', class: 'muted'}),
    };
    const E = model.els;
    ctx.root.append(h('div', {class: 'camp-view'}, // h() leaves out the nulls
      h('div', {class: 'toolbar'}, h('h1', {}, 'Campaigns & leads'), filter,
        h('span', {class: 'muted'}, 'figures read '), E.updated),
      E.tiles,
      h('section', {class: 'panel', 'aria-labelledby': 'camp-h'},
        h('h2', {id: 'camp-h'}, 'Campaigns: budget, spend, pacing, cost and return'),
        h('div', {class: 'scroll'}, h('table', {'data-testid': 'campaigns-table'},
          h('thead', {}, h('tr', {},
            h('th', {scope: 'col'}, 'Campaign'), h('th', {scope: 'col'}, 'State'),
            ...['Budget', 'Spend', 'Remaining', 'Pacing', 'Leads', 'Contacts', 'Sales',
              'Revenue', 'Cost per lead', 'Cost per acquisition', 'ROI']
              .map((t) => h('th', {scope: 'col', class: 'num'}, t)),
            h('th', {scope: 'col'}, `Spend, last ${TREND_DAYS} days`))),
          E.campaigns))),
      h('div', {class: 'camp-cols'},
        h('section', {class: 'panel', 'aria-labelledby': 'funnel-h'},
          h('h2', {id: 'funnel-h'}, 'Lead funnel by source and status (all time)'), E.funnel),
        h('section', {class: 'panel', 'aria-labelledby': 'trend-h'},
          h('h2', {id: 'trend-h'}, 'Trends against last week (whole tenant)'),
          h('div', {class: 'scroll'}, h('table', {'data-testid': 'trends-table'},
            h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Metric'),
              h('th', {scope: 'col', class: 'num'}, 'Today'),
              h('th', {scope: 'col', class: 'num', title: 'the same weekday last week'}, 'Last wk'),
              h('th', {scope: 'col', class: 'num'}, '7 days'),
              h('th', {scope: 'col', class: 'num', title: 'the 7 days before the last 7'}, 'Prior 7'),
              h('th', {scope: 'col', class: 'num', title: 'the last 7 days against the 7 before'}, 'Change'),
              h('th', {scope: 'col'}, `${TREND_DAYS} days`))),
            E.trends)))),
      h('div', {class: 'camp-cols'},
        h('section', {class: 'panel', 'aria-labelledby': 'wait-h'},
          h('h2', {id: 'wait-h'}, 'Waiting for an agent: ', E.waitingCount),
          h('div', {class: 'scroll'}, h('table', {'data-testid': 'waiting-table'},
            h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Lead'), h('th', {scope: 'col'}, 'Queue'),
              h('th', {scope: 'col'}, 'Channel'), h('th', {scope: 'col', class: 'num'}, 'Score'),
              h('th', {scope: 'col', class: 'num'}, 'Waiting'))),
            E.waiting))),
        h('section', {class: 'panel', 'aria-labelledby': 'dec-h'},
          h('h2', {id: 'dec-h'}, 'Routing decisions, newest first'),
          h('div', {class: 'scroll'}, E.decisions))),
      h('section', {class: 'panel', 'aria-labelledby': 'act-h'},
        h('h2', {id: 'act-h'}, 'Lead and campaign events as they happen '), E.live,
        E.activity)));
    this.drawFigures(ctx, model);
    for (const w of model.waiting.values()) E.waiting.append(this.waitingRow(ctx, w));
    this.waitingCount(ctx, model);
    for (const d of model.decisions) E.decisions.append(this.decisionItem(ctx, d));
    this.liveCounts(ctx, model);
    E.activity.append(h('li', {class: 'muted none'}, 'Nothing since this page opened.'));
  },

  // ---- analytics figures: drawn from a read, never computed here --------

  drawFigures(ctx, model) {
    const {h, fill, fmt} = ctx, E = model.els, f = model.fig;
    // the filter's choices: every campaign analytics knows
    const have = new Set([...E.filter.options].map((o) => o.value));
    for (const c of f.campaigns) if (!have.has(c.campaign_id))
      E.filter.append(h('option', {value: c.campaign_id}, c.name ? `${c.name} (${c.campaign_id})` : c.campaign_id));
    E.filter.value = model.campaign;
    fill(E.updated, fmt.time(f.readAt, ctx.tz));
    E.updated.dataset.readAt = String(f.readAt);

    // tiles: sums over the campaigns shown (each a sum of table columns);
    // ratios recomputed from those sums as analytics defines them
    const sum = (k) => f.campaigns.reduce((a, c) => a + (num(c[k]) || 0), 0);
    const spend = sum('spend_cents'), leads = sum('leads'), sales = sum('sales'), rev = sum('revenue_cents');
    const wow = (m) => {
      const r = f.trends.find((t) => t.metric === m && t.day === f.today);
      return r ? num(r.week_over_week_pct) : null;
    };
    const tile = (id, label, value, trend) => h('div', {class: 'panel tile', 'data-testid': `tile-${id}`,
      dataset: {value: value.raw === null ? '' : String(value.raw)}},
    h('div', {class: 'value'}, value.text), h('div', {class: 'label'}, label),
    trend === undefined ? null : h('div', {class: 'label'},
      trend === null ? '7 days: no week before' : `7 days ${trend >= 0 ? '▲' : '▼'} ${fmt.pct(Math.abs(trend))} on the 7 before`));
    fill(E.tiles,
      tile('spend', 'Spend, all time', {raw: spend, text: cents(spend, fmt)}, model.campaign ? undefined : wow('spend_cents')),
      tile('leads', 'Leads, all time', {raw: leads, text: fmt.num(leads)}, model.campaign ? undefined : wow('leads_created')),
      tile('sales', 'Sales, all time', {raw: sales, text: fmt.num(sales)}, model.campaign ? undefined : wow('sales')),
      tile('revenue', 'Revenue, all time', {raw: rev, text: cents(rev, fmt)}, model.campaign ? undefined : wow('revenue_cents')),
      tile('cpa', 'Cost per acquisition', {raw: sales ? spend / sales : null, text: sales ? cents(spend / sales, fmt) : '–'}),
      tile('roi', 'Return on spend', {raw: spend ? (rev - spend) / spend : null,
        text: spend ? fmt.pct((rev - spend) / spend) : '–'}));

    // campaigns
    const byDay = new Map();
    for (const d of f.daily) {
      if (!byDay.has(d.campaign_id)) byDay.set(d.campaign_id, new Map());
      byDay.get(d.campaign_id).set(d.day, num(d.spend_cents) || 0);
    }
    const days = Array.from({length: TREND_DAYS}, (_, i) => dayShift(f.from, i));
    fill(E.campaigns, f.campaigns.length ? f.campaigns.map((c) => {
      const pacing = num(c.pacing);
      const band = pacing === null ? '' : pacing > 1.1 ? 'band-bad' : pacing < 0.8 ? 'band-warn' : 'band-ok';
      const cell = (k, text) => h('td', {class: 'num', dataset: {col: k, value: c[k] === null || c[k] === undefined ? '' : String(c[k])}}, text);
      const spendDays = days.map((d) => (byDay.get(c.campaign_id) || new Map()).get(d) || 0);
      return h('tr', {dataset: {campaign: c.campaign_id}},
        h('th', {scope: 'row'}, c.name || c.campaign_id, c.name ? h('div', {class: 'muted'}, c.campaign_id) : null),
        h('td', {}, c.state || '–'),
        cell('budget_cents', cents(c.budget_cents, fmt)),
        cell('spend_cents', cents(c.spend_cents, fmt)),
        cell('remaining_cents', cents(c.remaining_cents, fmt)),
        h('td', {class: `num ${band}`, dataset: {col: 'pacing', value: c.pacing ?? ''},
          title: 'average daily spend over the daily budget'}, fmt.pct(pacing, 0)),
        cell('leads', fmt.num(c.leads)),
        cell('contacts', fmt.num(c.contacts)),
        cell('sales', fmt.num(c.sales)),
        cell('revenue_cents', cents(c.revenue_cents, fmt)),
        cell('cost_per_lead_cents', cents(c.cost_per_lead_cents, fmt)),
        cell('cost_per_acquisition_cents', cents(c.cost_per_acquisition_cents, fmt)),
        cell('roi', fmt.pct(num(c.roi))),
        h('td', {}, ctx.spark(spendDays, {label: `spend per day of ${c.campaign_id}`})));
    }) : h('tr', {}, h('td', {colspan: 14, class: 'muted'}, 'No campaign figures yet.')));

    // funnel: a chart and a table per lead source
    const bySource = new Map();
    for (const r of f.funnel) {
      const k = r.lead_source || '(no source)';
      if (!bySource.has(k)) bySource.set(k, new Map());
      const m = bySource.get(k);
      const cur = m.get(r.status) || {entered: 0, leads: 0, revenue_cents: 0, rows: []};
      cur.entered += num(r.entered) || 0;
      cur.revenue_cents += num(r.revenue_cents) || 0;
      cur.rows.push(r);
      m.set(r.status, cur);
    }
    fill(E.funnel, bySource.size ? [...bySource.entries()].map(([src, m]) => {
      const order = [...STAGES.filter((s) => m.has(s)), ...[...m.keys()].filter((s) => !STAGES.includes(s)).sort()];
      const leads = f.funnel.filter((r) => (r.lead_source || '(no source)') === src)
        .reduce((acc, r) => acc.set(r.campaign_id, num(r.leads) || 0), new Map());
      const created = [...leads.values()].reduce((a, b) => a + b, 0);
      return h('div', {class: 'funnel-source', dataset: {source: src}},
        h('h3', {}, src, h('span', {class: 'muted'}, ` · ${fmt.num(created)} leads created`)),
        ctx.bars(order.map((s) => ({label: s, value: m.get(s).entered})),
          {width: 420, height: 90, label: `leads that reached each status, source ${src}`}),
        h('table', {},
          h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Status'),
            h('th', {scope: 'col', class: 'num'}, 'Entered'),
            h('th', {scope: 'col', class: 'num'}, 'Of leads'),
            h('th', {scope: 'col', class: 'num'}, 'From previous'),
            h('th', {scope: 'col', class: 'num'}, 'Avg time in stage'))),
          h('tbody', {}, order.map((s) => {
            const x = m.get(s), one = x.rows.length === 1 ? x.rows[0] : null;
            return h('tr', {dataset: {status: s, entered: String(x.entered)}},
              h('th', {scope: 'row'}, s),
              h('td', {class: 'num'}, fmt.num(x.entered)),
              h('td', {class: 'num'}, created ? fmt.pct(x.entered / created) : '–'),
              h('td', {class: 'num'}, one ? fmt.pct(num(one.conversion_from_previous)) : '–'),
              h('td', {class: 'num'}, one && num(one.avg_time_in_stage_s) !== null
                ? fmt.dur(num(one.avg_time_in_stage_s) * 1000) : '–'));
          }))));
    }) : h('p', {class: 'muted'}, 'No leads yet.'));

    // trends: today against the same weekday last week, 7 days against 7
    const hist = new Map();
    for (const r of f.trends) {
      if (!hist.has(r.metric)) hist.set(r.metric, new Map());
      hist.get(r.metric).set(r.day, r);
    }
    const show = (kind, x) => {
      const v = num(x);
      if (v === null) return '–';
      return kind === 'cents' ? fmt.money(v / 100) : kind === 'pct' ? fmt.pct(v)
        : kind === 'dec' ? v.toFixed(1) : fmt.num(v);
    };
    fill(E.trends, TREND_METRICS.map(([m, label, kind]) => {
      const rows = hist.get(m) || new Map(), t = rows.get(f.today) || {};
      const wow = num(t.week_over_week_pct);
      return h('tr', {dataset: {metric: m, value: t.value ?? ''}},
        h('th', {scope: 'row'}, label),
        h('td', {class: 'num'}, show(kind, t.value)),
        h('td', {class: 'num'}, show(kind, t.same_weekday_last_week)),
        h('td', {class: 'num'}, show(kind, t.last_7_days)),
        h('td', {class: 'num'}, show(kind, t.prior_7_days)),
        h('td', {class: `num ${wow === null ? '' : wow >= 0 ? 'up' : 'down'}`},
          wow === null ? '–' : `${wow >= 0 ? '+' : ''}${(wow * 100).toFixed(1)}%`),
        h('td', {}, ctx.spark(days.map((d) => num((rows.get(d) || {}).value) || 0),
          {width: 120, height: 24, label: `${label}, last ${TREND_DAYS} days`})));
    }));
  },

  async refilter(ctx, model) {
    model.campaign = model.els.filter.value;
    await this.reread(ctx, model, false);
  },

  // Reads the figures again (and routing's tables when asked); a failed
  // read leaves the last figures and says so.
  async reread(ctx, model, routing) {
    model.reread.last = ctx.now();
    try {
      const [fig, rt] = await Promise.all([readFigures(ctx, model.campaign),
        routing ? readRouting(ctx) : null]);
      if (!model.els.tiles.isConnected) return; // a newer snapshot replaced this one
      model.fig = fig;
      this.drawFigures(ctx, model);
      if (rt) this.replaceRouting(ctx, model, rt);
      model.els.updated.classList.remove('error');
    } catch (e) {
      model.els.updated.classList.add('error');
      ctx.fill(model.els.updated, `could not re-read: ${e.message}`);
    }
  },

  // At most every REREAD_MIN_MS, REREAD_DELAY_MS after the event that asks,
  // and once more REREAD_MIN_MS after that (the processor commits in
  // batches: the first read may come before the event is in the figures).
  schedule(ctx, model, routing) {
    const r = model.reread;
    r.followUp = true;
    r.routing = r.routing || routing;
    if (r.timer) return;
    const at = Math.max(ctx.now() + REREAD_DELAY_MS, r.last + REREAD_MIN_MS);
    const run = async () => {
      r.timer = null;
      const again = r.followUp, withRouting = r.routing;
      r.followUp = false;
      r.routing = false;
      await this.reread(ctx, model, withRouting);
      if (again && !r.timer && model.els.tiles.isConnected)
        r.timer = setTimeout(run, REREAD_MIN_MS);
    };
    r.timer = setTimeout(run, at - ctx.now());
  },

  leave(ctx, model) {
    if (model && model.reread.timer) clearTimeout(model.reread.timer);
  },

  // ---- routing ----------------------------------------------------------

  waitingRow(ctx, w) {
    const {h} = ctx;
    return h('tr', {dataset: {lead: w.lead_id, since: String(ctx.ms(w.waiting_since))}},
      h('th', {scope: 'row'}, w.lead_id),
      h('td', {}, w.queue_id || '–'),
      h('td', {}, w.channel || '–'),
      h('td', {class: 'num'}, w.score === null || w.score === undefined ? '–' : String(w.score)),
      h('td', {class: 'num wait'}, ctx.fmt.dur(ctx.now() - ctx.ms(w.waiting_since))));
  },

  waitingCount(ctx, model) {
    const n = model.waiting.size;
    ctx.fill(model.els.waitingCount, n >= MAX_WAITING ? `${ctx.fmt.num(n)}+` : ctx.fmt.num(n));
    model.els.waitingCount.dataset.count = String(n);
  },

  // the explanation of a decision: its strategy's reasons, readable
  explain(ctx, d) {
    const {h} = ctx;
    let x = d.explanation;
    if (typeof x === 'string') { try { x = JSON.parse(x); } catch { /* shown as text */ } }
    if (x === null || x === undefined) return null;
    const lines = [];
    const walk = (v, path) => {
      if (lines.length >= 40) return;
      if (Array.isArray(v)) v.forEach((e, i) => walk(e, `${path}[${i}]`));
      else if (v && typeof v === 'object') {
        const flat = Object.entries(v).filter(([, y]) => y === null || typeof y !== 'object');
        const deep = Object.entries(v).filter(([, y]) => y !== null && typeof y === 'object');
        if (flat.length) lines.push(`${path ? `${path}: ` : ''}${flat.map(([k, y]) => `${k}=${y}`).join(', ')}`);
        for (const [k, y] of deep) walk(y, path ? `${path}.${k}` : k);
      } else lines.push(`${path}: ${v}`);
    };
    walk(x, '');
    return h('details', {}, h('summary', {}, 'why'),
      h('ul', {class: 'explain'}, lines.map((l) => h('li', {}, l))));
  },

  decisionItem(ctx, d) {
    const {h, fmt} = ctx;
    const t = ctx.ms(d.decided_at);
    return h('li', {dataset: {lead: d.lead_id || '', outcome: d.outcome, agent: d.agent_id || '', at: String(t)},
      class: `outcome-${d.outcome}`},
    h('time', {datetime: new Date(t).toISOString()}, fmt.time(t, ctx.tz)), ' ',
    h('strong', {}, d.outcome), ' ',
    d.lead_id ? `lead ${d.lead_id}` : '', d.agent_id ? ` → ${d.agent_id}` : '',
    d.queue_id ? ` in ${d.queue_id}` : '', d.strategy ? ` (${d.strategy})` : '',
    this.explain(ctx, d));
  },

  replaceRouting(ctx, model, rt) {
    const E = model.els;
    model.waiting = new Map(rt.waiting.map((w) => [w.lead_id, w]));
    for (const w of rt.waiting) {
      const t = ctx.ms(w.waiting_since);
      if (!(model.lastChange.get(w.lead_id) >= t)) model.lastChange.set(w.lead_id, t);
    }
    ctx.fill(E.waiting, rt.waiting.map((w) => this.waitingRow(ctx, w)));
    this.waitingCount(ctx, model);
    // decisions: add what the feed did not bring, keep the newest
    for (const d of rt.decisions.slice().reverse()) this.addDecision(ctx, model, d);
  },

  addDecision(ctx, model, d) {
    const k = decisionKey(d);
    if (model.decisionKeys.has(k)) return false;
    model.decisionKeys.add(k);
    const t = ctx.ms(d.decided_at);
    // in time order, newest first
    let i = 0;
    while (i < model.decisions.length && ctx.ms(model.decisions[i].decided_at) > t) i++;
    if (i >= MAX_DECISIONS) return false;
    model.decisions.splice(i, 0, d);
    const li = this.decisionItem(ctx, d), list = model.els.decisions;
    list.insertBefore(li, list.children[i] || null);
    while (model.decisions.length > MAX_DECISIONS) {
      const old = model.decisions.pop();
      model.decisionKeys.delete(decisionKey(old));
      list.lastElementChild.remove();
    }
    return true;
  },

  onDecision(ctx, model, ev) {
    const x = ev.data || {};
    const d = {lead_id: x.lead_id, agent_id: x.agent_id, queue_id: x.queue_id, outcome: x.outcome,
      strategy: x.strategy, explanation: x.explanation, decided_at: ctx.ms(ev.time)};
    if (!d.outcome || !this.addDecision(ctx, model, d)) return;
    model.live.decisions++;
    const lead = d.lead_id, t = ctx.ms(ev.time);
    if (!lead || model.lastChange.get(lead) > t) return; // older than what we show
    model.lastChange.set(lead, t);
    const row = model.els.waiting.querySelector(`tr[data-lead="${CSS.escape(lead)}"]`);
    if (d.outcome === 'queued' || d.outcome === 'held') {
      if (!model.waiting.has(lead) && model.waiting.size < MAX_WAITING) {
        const w = {lead_id: lead, queue_id: d.queue_id, channel: '', score: null, waiting_since: t};
        model.waiting.set(lead, w);
        model.els.waiting.append(this.waitingRow(ctx, w));
      }
    } else if (d.outcome === 'assigned' || d.outcome === 'withdrawn' || d.outcome === 'queue_full') {
      model.waiting.delete(lead);
      if (row) row.remove();
    }
    this.waitingCount(ctx, model);
  },

  // ---- the feed -----------------------------------------------------------

  event(ctx, model, ev) {
    if (seen(model, ev.id)) return;
    if (ev.type === 'routing.decision') {
      this.onDecision(ctx, model, ev);
      this.schedule(ctx, model, true);
      this.liveCounts(ctx, model);
      return;
    }
    const x = ev.data || {};
    if (ev.type.startsWith('lead.') || ev.type.startsWith('campaign.')) {
      if (ev.type === 'lead.created') model.live.leads++;
      if (ev.type === 'campaign.spend_recorded') model.live.spend += num(x.amount_cents) || 0;
      this.addActivity(ctx, model, ev);
    }
    // the figures are analytics': read again rather than computed here
    this.schedule(ctx, model, false);
    this.liveCounts(ctx, model);
  },

  addActivity(ctx, model, ev) {
    const {h, fmt} = ctx, x = ev.data || {}; // the lead or campaign is the subject
    const t = ctx.ms(ev.time);
    let what = ev.type;
    if (ev.type === 'lead.created') what = `new lead from ${x.lead_source || '?'}${x.campaign_id ? ` for ${x.campaign_id}` : ''}`;
    else if (ev.type === 'lead.status_changed') what = `${x.previous_status || '?'} → ${x.status || '?'}`;
    else if (ev.type === 'lead.assigned') what = `assigned to ${x.agent_id || '?'}`;
    else if (ev.type === 'campaign.spend_recorded') what = `spend ${fmt.money((num(x.amount_cents) || 0) / 100)} ${x.currency || ''}`;
    else if (ev.type === 'campaign.state_changed') what = `state ${x.state || x.new_state || '?'}`;
    const li = h('li', {dataset: {type: ev.type, subject: ev.subject || '', id: ev.id, at: String(t)}},
      h('time', {datetime: new Date(t).toISOString()}, fmt.time(t, ctx.tz)), ' ',
      h('strong', {}, ev.subject || x.lead_id || x.campaign_id || ''), ' ', what);
    model.activity.unshift(ev.id);
    const none = model.els.activity.querySelector('li.none');
    if (none) none.remove();
    model.els.activity.prepend(li);
    while (model.activity.length > MAX_ACTIVITY) {
      model.activity.pop();
      model.els.activity.lastElementChild.remove();
    }
  },

  liveCounts(ctx, model) {
    const {fill, fmt} = ctx, l = model.live;
    fill(model.els.live, `since this page loaded: ${fmt.num(l.leads)} new leads, ` +
      `${fmt.money(l.spend / 100)} spend recorded, ${fmt.num(l.decisions)} routing decisions`);
    model.els.live.dataset.leads = String(l.leads);
    model.els.live.dataset.decisions = String(l.decisions);
  },

  tick(ctx, model, now) {
    for (const tr of model.els.waiting.children) {
      const since = Number(tr.dataset.since);
      const cell = tr.lastElementChild;
      if (Number.isFinite(since) && cell) cell.textContent = ctx.fmt.dur(now - since);
    }
  },
};
