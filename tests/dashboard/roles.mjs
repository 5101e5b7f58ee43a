// What each role's browser receives (issue 19 items 2, 3): two tenants
// (acme, globex) seeded with agents, calls, leads, points, consent, a DNC
// flag and data subject requests; signed in as an agent (agent-amber), a
// supervisor, a manager and an admin of acme and an admin of globex, each
// visiting every view its nav offers, at 1920x1080 and 1366x768 (a
// screenshot of each), while every HTTP response body and WebSocket frame
// the page receives is recorded. Then:
//  - the agent's browser never receives another agent's id (agent-basil,
//    agent-cedar) in any answer of the API or any frame of the feed, with
//    one exception: the answers of the gamification views an agent reads
//    whole by design, the board-wide ones (leaderboard and around_me,
//    balances, team_balances, agent_days, badges, teams, team_members,
//    rewards, challenges and their standings, results and windows): there
//    other agents' names are the point of a leaderboard. Its own id is
//    everywhere, of course. The feed carries no other agent's id at all
//    (the agent's page also reads its own views and follows its own feed
//    itself while other agents' events are posted, so this holds whatever
//    views the build has);
//  - acme's users never receive anything of globex (its name, its agent's,
//    leads', calls' and requests' ids), and globex's admin nothing of acme;
//  - a view a role lacks is not in its nav, and forcing its hash shows the
//    role's home view instead;
//  - a read the role may not do, forced through the page's own fetch (its
//    session cookie), is 403: the agent and the supervisor on the
//    compliance, GDPR, audit and security views, the manager on the GDPR,
//    audit and security ones; the agent's subscription to sb.compliance is
//    refused on the feed; globex's admin forcing acme's subject gets no
//    row. A consent look-up on the Compliance page reveals the evidence to
//    acme's admin (in clear); the agent and the supervisor cannot make it
//    (403); a manager reads compliance.* by the permission table and gets
//    it revealed, as every projection read answers managers;
//  - live: a data subject request posted while the admin's page is open
//    appears in its GDPR list, and the agent's refused reads appear in its
//    security events, from the feed (the page is not reloaded); a request
//    past its due date is flagged overdue; the audit chains show their
//    heads as recorded and a signed checkpoint's time.
import {launch, open, ready, check, until, post, ev, api, offOrigin, shot,
  tokens, base, sizes} from './lib.mjs';

const NAV = {
  agent: ['gamification', 'myday'],
  supervisor: ['wallboard', 'gamification'],
  manager: ['wallboard', 'campaigns', 'gamification'],
  admin: ['wallboard', 'campaigns', 'gamification', 'compliance'],
};
const HOME = {agent: 'myday', supervisor: 'wallboard', manager: 'campaigns', admin: 'compliance'};
const ALL_VIEWS = ['wallboard', 'campaigns', 'gamification', 'myday', 'compliance'];
// the gamification views an agent reads whole (SB_VIEW_AGENTS_ALL, and
// around_me's neighbours): other agents' names are allowed there only
const BOARD = /\/v1\/projections\/gamification\/(leaderboard|around_me|balances|team_balances|agent_days|badges|teams|team_members|rewards|challenges|challenge_standings|challenge_results|challenge_windows)(\?|$)/;
const ME = 'agent-amber', OTHERS = ['agent-basil', 'agent-cedar'];
const GLOBEX = ['globex', 'agent-gx', 'lead-gx-1', 'call-gx-1', 'req-gx-1', 'evidence.example/gx'];
const ACME = ['acme', 'agent-amber', 'agent-basil', 'agent-cedar', 'lead-acme-7', 'req-acme-', 'evidence.example/acme'];

const hourAgo = new Date(Date.now() - 3600e3).toISOString();
const inTenDays = new Date(Date.now() + 10 * 86400e3).toISOString();

// ---- seed both tenants ------------------------------------------------------
const mgr = tokens.manager, adm = tokens.admin, gx = tokens.gxadmin;
const evs = [];
for (const a of [ME, ...OTHERS]) evs.push(ev('agent.logged_in', a, {campaign_ids: ['camp-1']}));
let c = 0;
for (const a of [ME, ...OTHERS]) {
  for (let i = 0; i < (a === ME ? 1 : 2); i++, c++) {
    evs.push(ev('call.ended', `call-acme-${c}`, {call_id: `call-acme-${c}`, agent_id: a, talk_ms: 60000}));
    evs.push(ev('call.dispositioned', `call-acme-${c}`, {call_id: `call-acme-${c}`, agent_id: a, disposition: 'sale'}));
  }
}
evs.push(ev('lead.created', 'lead-acme-1', {lead_source: 'web_form'}));
evs.push(ev('lead.created', 'lead-acme-7', {lead_source: 'web_form', phone: '+14155550107'}));
await post(mgr, evs);
await post(adm, [
  ev('consent.given', 'lead-acme-7', {subject_id: 'lead-acme-7', purpose: 'marketing', channel: 'sms',
    method: 'web_form', consent_text_version: 'v3', evidence_url: 'https://evidence.example/acme-7',
    subject_ip: '203.0.113.7', phone: '+14155550107'}),
  ev('lead.dnc_flagged', 'lead-acme-7', {phone: '+14155550107', channel: 'voice', reason: 'asked'}),
  ev('dsar.received', 'lead-acme-2', {subject_id: 'lead-acme-2', request_id: 'req-acme-open', kind: 'access', due_at: inTenDays}),
  ev('dsar.received', 'lead-acme-3', {subject_id: 'lead-acme-3', request_id: 'req-acme-late', kind: 'erasure', due_at: hourAgo}),
]);
await post(gx, [
  ev('agent.logged_in', 'agent-gx', {campaign_ids: ['camp-gx']}),
  ev('call.ended', 'call-gx-1', {call_id: 'call-gx-1', agent_id: 'agent-gx', talk_ms: 30000}),
  ev('call.dispositioned', 'call-gx-1', {call_id: 'call-gx-1', agent_id: 'agent-gx', disposition: 'sale'}),
  ev('lead.created', 'lead-gx-1', {lead_source: 'web_form'}),
  ev('consent.given', 'lead-gx-1', {subject_id: 'lead-gx-1', purpose: 'marketing', channel: 'email',
    method: 'web_form', evidence_url: 'https://evidence.example/gx-1', subject_ip: '198.51.100.1'}),
  ev('dsar.received', 'lead-gx-1', {subject_id: 'lead-gx-1', request_id: 'req-gx-1', kind: 'access'}),
]);
const count = async (tok, path) => { const r = await api(tok, path); return r.status === 200 ? r.body.count : -1; };
await until(async () => await count(adm, '/v1/projections/gdpr/requests') === 2 &&
  await count(adm, '/v1/projections/compliance/consent?subject=lead-acme-7') === 1 &&
  await count(adm, '/v1/projections/gamification/balances') === 3 &&
  await count(adm, '/v1/projections/routing/agents') === 3 &&
  await count(gx, '/v1/projections/gdpr/requests') === 1 &&
  await count(gx, '/v1/projections/gamification/balances') === 1, 60000, 'the seeded projections');
// the audit worker signs a checkpoint every second here (see the .sh)
await until(async () => {
  const r = await api(adm, '/v1/projections/audit/chains');
  return r.status === 200 && r.body.rows.length > 0 && r.body.rows.every((x) => x.checkpoint_at);
}, 30000, 'signed checkpoints of every chain');

// ---- helpers -------------------------------------------------------------------
const inBody = (s, markers) => markers.filter((m) => s.includes(m));
// the API's answers (not the page's own files) and the feed's frames
function received(log) {
  return [...log.responses.filter((r) => new URL(r.url).pathname.startsWith('/v1/'))
    .map((r) => ({where: `${r.status} ${r.url}`, url: r.url, text: r.body})),
  ...log.frames.map((f) => ({where: 'frame', url: '', text: f}))];
}
// The record of a read the page made itself (access.recorded, on an
// admin's feed) names what was asked: globex's admin asking for acme's
// subject sees its own question again, not acme's data.
function ownReadsAside(text) {
  let x;
  try { x = JSON.parse(text); } catch { return text; }
  if (!x || x.type !== 'access.recorded' || !x.data) return text;
  const {filters, resource_id, ...rest} = x.data;
  return JSON.stringify({...x, data: rest});
}
async function hasModule(id) {
  return (await fetch(`${base}/ui/view_${id}.js`)).status === 200;
}
// Views of the other pieces of issue 19 may not be in this build (before
// the branches meet): their nav links and routing are checked, not their
// data. Once every view_<id>.js is served, nothing is skipped.
const missing = [];
for (const id of ALL_VIEWS) if (!(await hasModule(id))) missing.push(id);
if (missing.length) console.log(`views not in this build: ${missing} (their data is not checked)`);
async function settle(s, id) {
  if (missing.includes(id)) await s.page.waitForFunction((v) => location.hash === `#/${v}`, id);
  else await ready(s.page, id);
}
// Opens view id through its nav link (keyboard-reachable: a real link) and
// waits for its snapshot; a screenshot at both sizes.
async function visit(s, role, id) {
  await s.page.click(`#nav-${id}`);
  await s.page.waitForFunction((v) => location.hash === `#/${v}`, id);
  if (missing.includes(id)) return false;
  await ready(s.page, id);
  for (const [size, vp] of [['1920', sizes.wallboard], ['1366', sizes.laptop]]) {
    await s.page.setViewportSize(vp);
    await shot(s.page, `roles-${s.name}-${id}-${size}`);
  }
  return true;
}
// fetch from the page itself: its cookie, its origin
const pageGet = (s, path) => s.page.evaluate(async (p) => {
  const r = await fetch(p, {credentials: 'same-origin'});
  return {status: r.status, text: await r.text()};
}, path);

const b = await launch();
const sessions = [];
try {
  // ---- the admin's page stays open: the live checks at the end ---------------
  const admin = await open(b, {token: adm, name: 'admin', viewport: sizes.wallboard});
  sessions.push(admin);
  await ready(admin.page, 'compliance');
  const navOf = (s) => s.page.$$eval('#nav a', (as) => as.map((a) => a.id.replace(/^nav-/, '')));

  // ---- each role ------------------------------------------------------------
  for (const [name, role, tok] of [['agent', 'agent', tokens.agent], ['supervisor', 'supervisor', tokens.supervisor],
    ['manager', 'manager', mgr], ['admin2', 'admin', adm], ['gxadmin', 'admin', gx]]) {
    const s = name === 'admin2' ? admin : await open(b, {token: tok, name, viewport: sizes.laptop});
    if (s !== admin) sessions.push(s);
    await settle(s, HOME[role]);
    const nav = await navOf(s);
    check(JSON.stringify([...nav].sort()) === JSON.stringify([...NAV[role]].sort()),
      `${name}'s nav: ${nav} (want ${NAV[role]})`);
    for (const id of NAV[role]) await visit(s, name, id);
    // views it lacks: forced through the address bar, the home view opens
    for (const id of ALL_VIEWS.filter((v) => !NAV[role].includes(v))) {
      await s.page.evaluate((v) => { location.hash = `#/${v}`; }, id);
      await s.page.waitForFunction((h) => location.hash === `#/${h}`, HOME[role]);
      const shown = await s.page.getAttribute('#view', 'data-view');
      check(shown === HOME[role], `${name} forced #/${id} and sees ${shown}`);
    }
    // back home, for the look-ups below
    await s.page.evaluate((v) => { location.hash = `#/${v}`; }, HOME[role]);
    await settle(s, HOME[role]);
  }
  const by = Object.fromEntries(sessions.map((s) => [s.name, s]));
  const agent = by.agent, sup = by.supervisor, manager = by.manager, gxa = by.gxadmin;

  // ---- forced reads ---------------------------------------------------------------
  const compliancePaths = ['/v1/projections/compliance/consent?subject=lead-acme-7',
    '/v1/projections/compliance/suppression?subject=lead-acme-7',
    '/v1/projection?name=compliance.consent&subject_id=lead-acme-7'];
  const adminPaths = ['/v1/projections/gdpr/requests', '/v1/projections/audit/chains',
    '/v1/projections/security/failures', '/v1/projections/security/access',
    '/v1/projection?name=audit.events', '/v1/gdpr?subject=lead-acme-3'];
  for (const p of [...compliancePaths, ...adminPaths, '/v1/projections/routing/lead_scores',
    '/v1/projections/assignment/decisions', '/v1/projection?name=routing.agents']) {
    const r = await pageGet(agent, p);
    check(r.status === 403, `the agent's page read ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  for (const p of [...compliancePaths, ...adminPaths]) {
    const r = await pageGet(sup, p);
    check(r.status === 403, `the supervisor's page read ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  for (const p of adminPaths) {
    const r = await pageGet(manager, p);
    check(r.status === 403, `the manager's page read ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  { // managers read compliance.* (the permission table), revealed
    const r = await pageGet(manager, compliancePaths[0]);
    check(r.status === 200 && r.text.includes('https://evidence.example/acme-7'),
      `the manager's consent read: ${r.status} ${r.text.slice(0, 300)}`);
  }
  { // another tenant's admin: acme's subject is not there
    const r = await pageGet(gxa, compliancePaths[0]);
    check(r.status === 200 && JSON.parse(r.text).count === 0, `globex's admin read acme's consent: ${r.text.slice(0, 300)}`);
    const g = await pageGet(gxa, '/v1/projections/gdpr/requests');
    const ids = JSON.parse(g.text).rows.map((x) => x.request_id);
    check(JSON.stringify(ids) === '["req-gx-1"]', `globex's requests: ${ids}`);
  }
  { // the agent's feed: sb.compliance refused
    const r = await agent.page.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/v1/stream`);
      const out = [];
      ws.onmessage = (m) => {
        const x = JSON.parse(m.data);
        out.push(x);
        if (x.welcome) ws.send(JSON.stringify({subscribe: {topics: ['sb.compliance']}}));
        else if (x.error || x.subscribed) { ws.close(); resolve(out); }
      };
      ws.onerror = () => resolve(out);
      setTimeout(() => resolve(out), 5000);
    }));
    const last = r[r.length - 1] || {};
    check(last.error && /may not subscribe/.test(last.error.message), `the agent's sb.compliance subscription: ${JSON.stringify(r)}`);
  }

  { // the agent's own reads and feed, asked by its page whatever its views
    // ask (recorded like the views' own, and checked below with them)
    for (const p of ['/v1/projections/routing/agents', '/v1/projections/gamification/ledger',
      '/v1/analytics/agents', '/v1/projections/gamification/leaderboard?span=all&scope=tenant']) {
      const r = await pageGet(agent, p);
      check(r.status === 200 && r.text.includes(ME), `the agent's page read ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    }
    const feed = agent.page.evaluate(() => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/v1/stream`);
      let n = 0;
      ws.onmessage = (m) => {
        const x = JSON.parse(m.data);
        if (x.welcome) ws.send(JSON.stringify({subscribe: {topics: ['sb.calls', 'sb.agents', 'sb.leads', 'sb.gamification']}}));
        else if (x.subscribed) resolve('subscribed');
        else if (x.error) resolve(JSON.stringify(x));
        else if (x.specversion && ++n && x.subject === 'call-acme-mine') setTimeout(() => ws.close(), 1500);
      };
      setTimeout(() => resolve('no answer'), 5000);
    }));
    check(await feed === 'subscribed', `the agent's own feed: ${await feed}`);
    await post(mgr, [
      ev('agent.state_changed', 'agent-cedar', {agent_id: 'agent-cedar', state: 'paused', pause_reason: 'lunch'}),
      ev('call.ended', 'call-acme-other', {call_id: 'call-acme-other', agent_id: 'agent-basil', talk_ms: 1000}),
      ev('call.ended', 'call-acme-mine', {call_id: 'call-acme-mine', agent_id: ME, talk_ms: 1000}),
    ]);
    await until(() => agent.log.frames.some((f) => f.includes('call-acme-mine')), 5000, 'the agent\'s own call on its feed');
    await new Promise((r) => setTimeout(r, 1000)); // what else would come
  }

  // ---- the consent look-up on the admin's page ------------------------------------
  await admin.page.fill('#cmp-subject', 'lead-acme-7');
  await admin.page.press('#cmp-subject', 'Enter'); // the form, from the keyboard
  await admin.page.waitForSelector('[data-testid=lookup-result][data-state=done][data-subject="lead-acme-7"]');
  const evidence = await admin.page.textContent('[data-testid=consent] td[data-field=evidence_url]');
  check(evidence === 'https://evidence.example/acme-7', `the evidence shown to the admin: ${evidence}`);
  const ip = await admin.page.textContent('[data-testid=consent] td[data-field=subject_ip]');
  check(ip === '203.0.113.7', `the subject's address shown to the admin: ${ip}`);
  const supp = await admin.page.$$eval('[data-testid=suppression] tbody tr', (t) => t.map((x) => x.dataset.match).sort());
  check(JSON.stringify(supp) === '["phone_hmac","subject"]', `suppressions of lead-acme-7: ${supp}`);
  await admin.page.setViewportSize(sizes.wallboard);
  await admin.page.locator('[data-testid=lookup]').scrollIntoViewIfNeeded();
  await shot(admin.page, 'roles-admin-compliance-lookup-1920');

  // ---- the admin's page, live ------------------------------------------------------
  check(await admin.page.getAttribute('tr[data-request="req-acme-late"]', 'data-status') === 'overdue',
    'the request past its due date is not flagged overdue');
  check(await admin.page.getAttribute('tr[data-request="req-acme-open"]', 'data-status') === 'open',
    'the request due in ten days is not open');
  const heads = await admin.page.$$eval('[data-testid=audit] tr[data-chain]', (t) => t.map((x) => x.dataset.head));
  check(heads.length > 0 && heads.every((x) => x === 'ok'), `the chains' heads: ${heads}`);
  check(!/no checkpoint/.test(await admin.page.textContent('[data-testid=tile-checkpoint]')), 'no checkpoint time shown');
  const loads = admin.log.responses.filter((r) => r.url.includes('/v1/projections/gdpr/requests')).length;
  await post(adm, [ev('dsar.received', 'lead-acme-9', {subject_id: 'lead-acme-9', request_id: 'req-acme-live', kind: 'access'})]);
  await admin.page.waitForSelector('tr[data-request="req-acme-live"][data-status="open"]', {timeout: 5000});
  // the agent's refusals above, as the feed carried them
  await admin.page.waitForSelector(`[data-testid=failures] tr[data-kind="access_denied"]:has(td:text-is("${ME}"))`, {timeout: 5000});
  check(admin.log.responses.filter((r) => r.url.includes('/v1/projections/gdpr/requests')).length === loads,
    'the GDPR list was reloaded instead of updated from the feed');
  await admin.page.setViewportSize(sizes.laptop);
  await admin.page.locator('[data-testid=gdpr]').scrollIntoViewIfNeeded();
  await shot(admin.page, 'roles-admin-compliance-live-1366');

  // ---- what each browser received ---------------------------------------------------
  for (const s of sessions) {
    const got = received(s.log);
    check(got.length > 0, `${s.name} received nothing`);
    const foreign = s.name === 'gxadmin' ? ACME : GLOBEX;
    for (const g of got) {
      const hit = inBody(ownReadsAside(g.text), foreign);
      check(hit.length === 0, `${s.name} received the other tenant's ${hit} in ${g.where}: ${g.text.slice(0, 300)}`);
    }
    const off = offOrigin(s.log);
    check(off.length === 0, `${s.name}: requests to another origin: ${off}`);
  }
  let boardSeen = 0;
  for (const g of received(agent.log)) {
    const hit = inBody(g.text, OTHERS);
    if (hit.length && g.url && BOARD.test(new URL(g.url).pathname + new URL(g.url).search)) { boardSeen++; continue; }
    check(hit.length === 0, `the agent received ${hit} in ${g.where}: ${g.text.slice(0, 300)}`);
  }
  if (NAV.agent.some((v) => !missing.includes(v)))
    check(agent.log.frames.some((f) => f.includes('"subscribed"')), 'the agent\'s feed never subscribed');
  console.log(`the agent's browser: ${received(agent.log).length} answers and frames, ` +
    `other agents' names only in ${boardSeen} leaderboard answers`);
  for (const s of sessions) {
    const errs = s.log.errors.filter((e) => !/status of (401|403)/.test(e) &&
      !(missing.length && /status of 404|could not be loaded|Failed to fetch dynamically imported module/.test(e)));
    check(errs.length === 0, `${s.name}: errors in the page: ${errs.join(' | ')}`);
  }
  console.log('dashboard roles: all checks passed');
} finally {
  await b.close();
}
