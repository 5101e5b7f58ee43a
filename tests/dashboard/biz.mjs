// The Campaigns & leads and Gamification views, in a real browser (issue 19
// item 3), on the day tests/cli/dashboard_biz.sh seeded:
//  - a manager's campaigns view shows each campaign's spend, remaining,
//    pacing, leads, contacts, sales, revenue, cost per lead and per
//    acquisition and ROI as GET /v1/analytics/campaigns answers them, the
//    funnel's entered per source and status as /v1/analytics/funnel, the
//    tiles as the sums of those, today's trends as /v1/analytics/trends,
//    and routing's waiting queue as /v1/projections/assignment/waiting;
//  - live: a lead posted shows in the lead activity (the delay printed),
//    its routing decision in the decisions with its explanation, and the
//    campaign's leads are re-read from analytics until they match the API;
//  - a manager's gamification view: the board as the API ranks it; a sale
//    posted shows in the points list (delay printed) and the board is
//    re-read to the API's points; Approve on a held redemption (reached
//    with Tab, pressed with Enter) is posted from the page and the
//    projection says approved; after a changed
//    disposition took points back, Approve on the second held one is
//    settled insufficient by the processor, and the page says so with the
//    processor's reason; a redemption that was insufficient from the start
//    offers no button;
//  - an agent (agent-2): the board, its own row "around me" at the API's
//    rank, its balance as the API's; every balance, badge, ledger,
//    redemption and membership row the page received is its own, every
//    event of its feed names no other agent, its badge list shows its own
//    badges only, and it has no Approve button; its own sale reaches its
//    points list (delay printed);
//  - a supervisor sees the rewards queue read only (no button), and a
//    decision forced from its page with its session is refused 403 and
//    changes nothing;
//  - screenshots of each at 1920x1080 and 1366x768; no request to another
//    origin; no error in any page.
import {launch, open, ready, check, until, post, ev, api, offOrigin, shot, tokens, sizes}
  from './lib.mjs';

const b = await launch();
const all = [];
const rows = async (token, path) => {
  const r = await api(token, path);
  check(r.status === 200, `GET ${path}: ${r.status} ${r.text}`);
  return r.body.rows;
};
const eq = (a, b) => (a === null || a === undefined || a === '' ? '' : String(Number(a))) ===
  (b === null || b === undefined || b === '' ? '' : String(Number(b)));
// a view opened by its hash, once the signed-in page is up
async function view(s, id) {
  await s.page.evaluate((v) => { location.hash = `#/${v}`; }, id);
  await ready(s.page, id, 30000);
}
async function sized(s, name) {
  for (const [size, vp] of [['1920', sizes.wallboard], ['1366', sizes.laptop]]) {
    await s.page.setViewportSize(vp);
    await s.page.waitForTimeout(150);
    await shot(s.page, `${name}-${size}`);
  }
}
const M = tokens.manager;
// a call of AGENT ended after a minute's talk and dispositioned a sale: 55 points
const sale = (agent, call, campaign, cents) => post(M, [
  ev('call.ended', call, {call_id: call, direction: 'outbound', end_reason: 'agent_hangup', agent_id: agent,
    campaign_id: campaign, talk_ms: 60000, started_at: new Date().toISOString(), answered_at: new Date().toISOString()}),
  ev('call.dispositioned', call, {call_id: call, disposition: 'sale', agent_id: agent, campaign_id: campaign,
    sale_amount_cents: cents})]);

try {
  // ---- campaigns, as a manager ---------------------------------------------
  const m = await open(b, {token: M, name: 'manager', viewport: sizes.wallboard});
  all.push(m);
  await view(m, 'campaigns');
  const P = m.page;
  const api1 = await rows(M, '/v1/analytics/campaigns');
  check(api1.length === 2, `the API's campaigns: ${JSON.stringify(api1)}`);
  for (const c of api1)
    for (const col of ['budget_cents', 'spend_cents', 'remaining_cents', 'pacing', 'leads', 'contacts',
      'sales', 'revenue_cents', 'cost_per_lead_cents', 'cost_per_acquisition_cents', 'roi']) {
      const got = await P.getAttribute(`tr[data-campaign="${c.campaign_id}"] td[data-col="${col}"]`, 'data-value');
      check(eq(got, c[col]), `${c.campaign_id} ${col}: page ${got}, API ${c[col]}`);
    }
  const sum = (k) => api1.reduce((a, c) => a + Number(c[k] || 0), 0);
  for (const [tile, k] of [['spend', 'spend_cents'], ['leads', 'leads'], ['sales', 'sales'], ['revenue', 'revenue_cents']]) {
    const got = await P.getAttribute(`[data-testid="tile-${tile}"]`, 'data-value');
    check(eq(got, sum(k)), `tile ${tile}: page ${got}, API sum ${sum(k)}`);
  }
  check(sum('sales') === 4 && sum('spend_cents') === 12500, `the seeded figures: ${JSON.stringify(api1)}`);
  const funnel = await rows(M, '/v1/analytics/funnel');
  const entered = new Map();
  for (const r of funnel) {
    const k = `${r.lead_source}|${r.status}`;
    entered.set(k, (entered.get(k) || 0) + Number(r.entered));
  }
  check(entered.get('web_form|converted') === 1 && entered.get('referral|new') === 2, `the funnel: ${[...entered]}`);
  for (const [k, n] of entered) {
    const [src, st] = k.split('|');
    const got = await P.getAttribute(`.funnel-source[data-source="${src}"] tr[data-status="${st}"]`, 'data-entered');
    check(Number(got) === n, `funnel ${k}: page ${got}, API ${n}`);
  }
  const today = new Date().toISOString().slice(0, 10);
  const trends = await rows(M, `/v1/analytics/trends?from=${today}&metric=spend_cents`);
  const spendToday = await P.getAttribute('tr[data-metric="spend_cents"]', 'data-value');
  check(trends.length === 1 && eq(spendToday, trends[0].value) && Number(trends[0].value) === 8500,
    `today's spend trend: page ${spendToday}, API ${JSON.stringify(trends)}`);
  const waiting = await rows(M, '/v1/projections/assignment/waiting');
  check(Number(await P.getAttribute('[data-testid="waiting-count"]', 'data-count')) === waiting.length,
    `waiting: page ${await P.textContent('[data-testid="waiting-count"]')}, API ${waiting.length}`);
  for (const w of waiting)
    check(await P.$(`[data-testid="waiting-table"] tr[data-lead="${w.lead_id}"]`), `waiting ${w.lead_id} not shown`);
  await sized(m, 'campaigns');

  // live: a new lead, its routing decision, the campaign's figures re-read
  await P.setViewportSize(sizes.wallboard);
  const before = Number(await P.getAttribute('tr[data-campaign="camp-b"] td[data-col="leads"]', 'data-value'));
  await post(M, [ev('consent.given', 'lead-live', {purpose: 'sales_outreach', channel: 'voice', method: 'web_form'})]);
  const t0 = await post(M, [ev('lead.created', 'lead-live', {lead_source: 'referral', campaign_id: 'camp-b', time_zone: process.env.SB_DAY_ZONE})]);
  await P.waitForSelector('[data-testid="lead-activity"] li[data-subject="lead-live"]', {timeout: 10000});
  console.log(`campaigns: lead-live in the activity list ${Date.now() - t0} ms after its 202`);
  await P.waitForSelector('[data-testid="decisions"] li[data-lead="lead-live"]', {timeout: 10000});
  console.log(`campaigns: lead-live's routing decision shown ${Date.now() - t0} ms after its 202`);
  const dec = await P.getAttribute('[data-testid="decisions"] li[data-lead="lead-live"]', 'data-outcome');
  check(dec === 'queued', `lead-live's decision: ${dec} (nobody is logged in: queued)`);
  check(await P.$('[data-testid="decisions"] li[data-lead="lead-live"] details ul.explain li'),
    'the decision has no explanation');
  await P.waitForSelector('[data-testid="waiting-table"] tr[data-lead="lead-live"]', {timeout: 10000});
  await until(async () => Number(await P.getAttribute('tr[data-campaign="camp-b"] td[data-col="leads"]', 'data-value')) === before + 1,
    30000, 'camp-b leads re-read from analytics');
  console.log(`campaigns: camp-b's leads re-read from analytics ${Date.now() - t0} ms after the 202`);
  const camp = (await rows(M, '/v1/analytics/campaigns?campaign=camp-b'))[0];
  check(Number(camp.leads) === before + 1, `the API's camp-b leads: ${camp.leads}`);
  check(Number(await P.getAttribute('[data-testid="live-counts"]', 'data-leads')) === 1, 'the live lead count');
  // the re-reads brought the decision again from the projection: shown once
  const n = (await P.$$('[data-testid="decisions"] li[data-lead="lead-live"][data-outcome="queued"]')).length;
  check(n === 1, `lead-live's decision shown ${n} times`);
  check((await P.$$('[data-testid="waiting-table"] tr[data-lead="lead-live"]')).length === 1, 'lead-live waits twice');

  // ---- gamification, as a manager ------------------------------------------
  await view(m, 'gamification');
  const day = await P.evaluate(() => {
    const tz = window.sbDashboard.state().session.time_zone;
    const p = new Intl.DateTimeFormat('en-CA', {timeZone: tz || undefined, year: 'numeric', month: '2-digit', day: '2-digit'})
      .formatToParts(new Date());
    const g = (t) => p.find((x) => x.type === t).value;
    return `${g('year')}-${g('month')}-${g('day')}`;
  });
  const boardPath = `/v1/projections/gamification/leaderboard?span=day&period=${day}&scope=tenant`;
  const board = await rows(M, boardPath);
  check(board.length === 3 && board[0].agent_id === 'agent-1', `the API's board: ${JSON.stringify(board)}`);
  for (const r of board) {
    const got = await P.getAttribute(`[data-testid="leaderboard"] tr[data-agent="${r.agent_id}"]`, 'data-rank');
    check(Number(got) === Number(r.rank), `${r.agent_id}'s rank: page ${got}, API ${r.rank}`);
  }
  check(await P.$('[data-testid="challenges"] article[data-challenge="ch-1"] .countdown'), 'the race has no countdown');
  const cd1 = await P.textContent('article[data-challenge="ch-1"] .countdown');
  check(/ends in/.test(cd1), `the race's countdown: ${cd1}`);
  await until(async () => (await P.textContent('article[data-challenge="ch-1"] .countdown')) !== cd1, 3000,
    `the countdown to tick from ${cd1}`);
  check(!(await P.$('tr[data-redemption="red-3"] button')), 'an insufficient redemption offers a decision');
  await sized(m, 'gamification-manager');
  await P.setViewportSize(sizes.wallboard);

  // a sale of agent-3: its points on the feed, the board re-read
  const t1 = await sale('agent-3', 'call-5', 'camp-a', 15000);
  await P.waitForSelector('[data-testid="recent-points"] li[data-agent="agent-3"]', {timeout: 10000});
  console.log(`gamification: agent-3's points in the manager's list ${Date.now() - t1} ms after the 202`);
  await until(async () => {
    const api3 = (await rows(M, `${boardPath}&agent=agent-3`))[0];
    const got = await P.getAttribute('[data-testid="leaderboard"] tr[data-agent="agent-3"]', 'data-points');
    return api3 && Number(api3.points) === 110 && Number(got) === 110;
  }, 30000, "agent-3's 110 points on the page's board and the API's");

  // Approve red-1 from the page, with the keyboard: Tab reaches the
  // button, Enter presses it; the processor approves
  await P.focus('#gam-scope');
  let tabs = 0;
  while (!(await P.evaluate(() => document.activeElement.matches('tr[data-redemption="red-1"] button[data-decision="approved"]')))) {
    check(++tabs < 80, 'Tab never reached the Approve button of red-1');
    await P.keyboard.press('Tab');
  }
  await P.keyboard.press('Enter');
  await P.waitForSelector('tr[data-redemption="red-1"][data-status="approved"]', {timeout: 10000});
  const red = async (id) => (await rows(M, '/v1/projections/gamification/redemptions')).find((r) => r.redemption_id === id);
  // the page learns it from the feed, the projection at the processor's commit
  await until(async () => (await red('red-1')).status === 'approved', 10000, 'red-1 approved in the projection');
  // call-2's disposition changed: its sale taken back (70 - 50 = 20 left)
  await post(M, [ev('call.dispositioned', 'call-2', {call_id: 'call-2', disposition: 'not_interested', agent_id: 'agent-1',
    campaign_id: 'camp-a'}, {time: new Date(Date.now() + 1000).toISOString()})]);
  await until(async () => Number((await rows(M, '/v1/projections/gamification/balances?agent=agent-1'))[0].balance) === 20,
    30000, "agent-1's balance down to 20");
  await P.click('tr[data-redemption="red-2"] button[data-decision="approved"]');
  await P.waitForSelector('tr[data-redemption="red-2"][data-status="insufficient"]', {timeout: 10000});
  const why = await P.textContent('tr[data-redemption="red-2"] td.why');
  check(/balance 20/.test(why), `red-2's reason on the page: ${why}`);
  const r2 = await until(async () => { const r = await red('red-2'); return r.status === 'insufficient' && r; },
    10000, 'red-2 insufficient in the projection');
  check(/balance 20/.test(r2.reason || ''), `red-2 in the projection: ${JSON.stringify(r2)}`);
  check(/red-2: insufficient/.test(await P.textContent('[data-testid="decision-status"]')), 'the outcome is not said');
  await shot(P, 'gamification-manager-decided-1920');

  // ---- an agent --------------------------------------------------------------
  const A = tokens.agent;
  const a = await open(b, {token: A, name: 'agent', viewport: sizes.laptop});
  all.push(a);
  await view(a, 'gamification');
  const Q = a.page;
  const around = await rows(A, `/v1/projections/gamification/around_me?span=day&period=${day}&scope=tenant`);
  const mine = around.find((r) => r.agent_id === 'agent-2');
  check(mine, `the API's around_me: ${JSON.stringify(around)}`);
  check(Number(await Q.getAttribute('[data-testid="around-me"] tr.me[data-agent="agent-2"]', 'data-rank')) === Number(mine.rank),
    'around me: agent-2 not at its rank');
  check((await Q.$$('[data-testid="leaderboard"] tr[data-agent]')).length === 3, 'the agent does not see the board');
  const bal = (await rows(A, '/v1/projections/gamification/balances?agent=agent-2'))[0];
  check(eq(await Q.getAttribute('[data-testid="my-balance"]', 'data-value'), bal.balance), `agent-2's balance: API ${bal.balance}`);
  check(!(await Q.$('button[data-decision]')), 'an agent is offered a decision');
  const badgeAgents = await Q.$$eval('[data-testid="badges"] li[data-agent]', (ls) => ls.map((l) => l.dataset.agent));
  check(badgeAgents.length > 0 && badgeAgents.every((x) => x === 'agent-2'), `the agent's badges: ${badgeAgents}`);
  await sized(a, 'gamification-agent');
  // its own sale, live
  await Q.setViewportSize(sizes.laptop);
  const t2 = await sale('agent-2', 'call-6', 'camp-b', 9000);
  await Q.waitForSelector('[data-testid="recent-points"] li[data-agent="agent-2"]', {timeout: 10000});
  console.log(`gamification: agent-2's own points on its page ${Date.now() - t2} ms after the 202`);
  await until(async () => {
    const x = (await rows(A, '/v1/projections/gamification/balances?agent=agent-2'))[0];
    return Number(x.balance) === Number(bal.balance) + 55 &&
      eq(await Q.getAttribute('[data-testid="my-balance"]', 'data-value'), x.balance);
  }, 30000, "agent-2's balance 55 up on the page and the API");
  // nothing of another agent's reached it
  const privateViews = /\/v1\/projections\/gamification\/(balances|badges|ledger|redemptions|agent_days|team_members)\b/;
  let checked = 0;
  // the log takes each body a little after its response
  await until(() => a.log.responses.every((r) => !privateViews.test(r.url) || r.status !== 200 || r.body !== ''),
    5000, "the bodies of the agent's reads");
  for (const r of a.log.responses) {
    if (!privateViews.test(r.url) || r.status !== 200) continue;
    const body = JSON.parse(r.body);
    for (const row of body.rows) check(row.agent_id === 'agent-2', `${r.url} gave the agent ${JSON.stringify(row)}`);
    checked++;
  }
  check(checked >= 3, `the agent's page read ${checked} of its private views`);
  // and the server gives no more, asked directly with the agent's token
  for (const v of ['badges', 'balances', 'redemptions', 'ledger']) {
    for (const q of ['', '?agent=agent-1']) {
      const r = await api(A, `/v1/projections/gamification/${v}${q}`);
      check(r.status === 200 && r.body.rows.every((x) => x.agent_id === 'agent-2'),
        `the agent read gamification/${v}${q}: ${r.status} ${r.text.slice(0, 300)}`);
      if (q) check(r.body.rows.length === 0, `?agent=agent-1 gave the agent ${r.text.slice(0, 300)}`);
    }
  }
  let events = 0;
  for (const f of a.log.frames) {
    const x = JSON.parse(f);
    if (!x.specversion) continue;
    events++;
    // the agent an event names: in its data, or its subject (points.*,
    // badge.*, leaderboard.*, reward.redemption_settled)
    const d = x.data || {};
    const who = d.agent_id || (/^(points|badge|leaderboard)\.|redemption_settled/.test(x.type) ? x.subject : null);
    check(!who || who === 'agent-2', `the agent's feed carried ${f.slice(0, 300)}`);
  }
  check(events > 0, 'the agent received no event');

  // ---- a supervisor: read only, and refused when it forces a decision --------
  const s = await open(b, {token: tokens.supervisor, name: 'supervisor', viewport: sizes.laptop});
  all.push(s);
  await view(s, 'gamification');
  await s.page.waitForSelector('tr[data-redemption="red-1"][data-status="approved"]');
  check(!(await s.page.$('button[data-decision]')), 'a supervisor is offered a decision');
  check(await s.page.isVisible('[data-testid="no-decide"]'), 'the read-only note is not shown');
  const forced = await s.page.evaluate(async () => {
    const res = await fetch('/v1/events', {method: 'POST', headers: {'Content-Type': 'application/cloudevents-batch+json'},
      body: JSON.stringify([{specversion: '1.0', id: `forced-${Date.now()}`, source: '/dashboard', type: 'reward.redemption_decided',
        subject: 'red-3', time: new Date().toISOString(), data: {redemption_id: 'red-3', decision: 'approved'}}])});
    return {status: res.status, body: await res.text()};
  });
  check(forced.status === 403, `a supervisor's forced decision: ${forced.status} ${forced.body}`);
  check((await red('red-3')).status === 'insufficient', 'red-3 changed');
  await sized(s, 'gamification-supervisor');

  for (const x of all) {
    const off = offOrigin(x.log);
    check(off.length === 0, `${x.name}: requests to another origin: ${off}`);
    // the 401 before sign-in, the supervisor's forced 403; the agent's and
    // the supervisor's home views (My day, Wallboard) are opened first, and
    // may not be in a build without them (404)
    const errs = x.log.errors.filter((e) => !/status of 401|status of 403/.test(e) &&
      !(x.name !== 'manager' && /status of 404/.test(e)));
    check(errs.length === 0, `${x.name}: errors in the page: ${errs.join(' | ')}`);
  }
  console.log(`campaigns and gamification: all checks passed (screenshots in ${process.env.SB_SHOTS})`);
} catch (e) {
  for (const x of all) {
    if (x.log.errors.length) console.error(`${x.name}'s page said: ${x.log.errors.join(' | ')}`);
    console.error(`${x.name}'s last frames: ${x.log.frames.slice(-6).map((f) => f.slice(0, 160)).join('\n')}`);
    const banner = await x.page.textContent('#banner').catch(() => '');
    if (banner) console.error(`${x.name}'s banner: ${banner}`);
  }
  throw e;
} finally {
  await b.close();
}
