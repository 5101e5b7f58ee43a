// The shell of the dashboard, in a real browser (issue 19 items 1, 2, 4):
//  - GET / carries a strict Content-Security-Policy (no inline script or
//    style, nothing from another origin) and the page runs under it
//    without a violation (each would be a console error);
//  - a bad token is refused on the sign-in page, which says so; each role
//    signed in sees the views it may open in its nav and no other, and a
//    view forced through the address bar it may not open shows its home;
//  - the freshness indicator: "live · last event N s ago" moves when an
//    event is posted (within a second); when `up` is SIGKILLed the page says
//    within 3 s that the feed is down and greys the numbers (never shows
//    them as live); when `up` comes back on the same origin the page
//    reconnects by itself, reloads its snapshot and goes live again, and an
//    event posted after that reaches it;
//  - sign-out ends the session (the page is back at sign-in, the cookie no
//    longer answers);
//  - no request, socket or image of the page goes to another origin.
import {launch, open, signIn, ready, check, until, post, ev, api, offOrigin, control, shot,
  tokens, base, sizes} from './lib.mjs';

const b = await launch();
const all = [];
try {
  // the page and its policy
  const res = await fetch(`${base}/`);
  const csp = res.headers.get('content-security-policy') || '';
  check(res.status === 200 && /text\/html/.test(res.headers.get('content-type')), `GET / ${res.status}`);
  for (const want of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"])
    check(csp.includes(want), `the CSP lacks ${want}: ${csp}`);
  check(!/unsafe-inline|unsafe-eval|\*/.test(csp), `the CSP allows too much: ${csp}`);
  check((await fetch(`${base}/ui/nope.js`)).status === 404, 'an unknown file is not 404');

  // a bad token
  const bad = await open(b, {name: 'bad'});
  all.push(bad);
  await bad.page.fill('#token', 'not-a-token');
  await bad.page.click('#signin-form button[type=submit]');
  await bad.page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  const msg = await bad.page.textContent('#signin-error');
  check(/not accepted/.test(msg), `the refusal says: ${msg}`);
  check(await bad.page.isHidden('#top'), 'a refused sign-in shows the dashboard');

  // each role's nav
  const navs = {agent: ['gamification', 'myday'], supervisor: ['wallboard', 'gamification'],
    manager: ['wallboard', 'campaigns', 'gamification'],
    admin: ['wallboard', 'campaigns', 'gamification', 'compliance']};
  for (const [role, want] of Object.entries(navs)) {
    const s = await open(b, {token: tokens[role], name: role});
    all.push(s);
    const ids = await s.page.$$eval('#nav a', (as) => as.map((a) => a.id.replace(/^nav-/, '')));
    check(JSON.stringify(ids.sort()) === JSON.stringify([...want].sort()),
      `${role}'s nav: ${ids} (want ${want})`);
    const who = await s.page.textContent('#who');
    check(who.includes(role) && who.includes('acme'), `${role}'s header: ${who}`);
    if (role === 'agent') { // a view it may not open, forced
      await s.page.goto(`${base}/#/compliance`);
      await s.page.waitForFunction(() => location.hash === '#/myday');
    }
    await s.ctx.close();
  }

  // freshness, a drop and the recovery, on the supervisor's wallboard; how
  // long the page takes to load and the view to be drawn (printed: the
  // issue asks for under a second on loopback; timing is not asserted)
  const s = await open(b, {name: 'supervisor', viewport: sizes.wallboard});
  all.push(s);
  const loaded = await s.page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
  const t1 = Date.now();
  await signIn(s.page, tokens.supervisor);
  await ready(s.page, 'wallboard');
  console.log(`page loaded in ${Math.round(loaded)} ms; sign-in to the wallboard drawn and live: ${Date.now() - t1} ms`);
  const before = await s.page.evaluate(() => window.sbDashboard.state().lastEventAt);
  const t0 = await post(tokens.manager, [ev('agent.logged_in', 'agent-9', {campaign_ids: ['camp-1']})]);
  await until(() => s.page.evaluate((b0) => window.sbDashboard.state().lastEventAt > b0, before), 5000,
    'the posted event on the feed');
  const seen = await s.page.evaluate(() => window.sbDashboard.state().lastEventAt);
  console.log(`event on the page ${seen - t0} ms after its 202`);
  await until(async () => /last event [01] s ago/.test(await s.page.textContent('#fresh')), 3000, 'the indicator');
  await shot(s.page, 'shell-live-1920');

  const killed = Date.now();
  await control('kill');
  await s.page.waitForSelector('#fresh[data-state="down"]', {timeout: 5000});
  await s.page.waitForSelector('#banner:not([hidden])', {timeout: 1000});
  const banner = await s.page.textContent('#banner');
  check(/live feed is down/.test(banner) && /not updating/.test(banner), `the banner: ${banner}`);
  check(await s.page.evaluate(() => document.getElementById('view').classList.contains('stale')),
    'the numbers are not greyed while the feed is down');
  console.log(`feed down shown ${Date.now() - killed} ms after the kill`);
  await shot(s.page, 'shell-feed-down-1920');

  await control('restart');
  const back = Date.now();
  await s.page.waitForSelector('#fresh[data-state="live"]', {timeout: 30000});
  await s.page.waitForSelector('#view[data-ready="true"]', {timeout: 30000});
  await s.page.waitForSelector('#banner', {state: 'hidden', timeout: 5000});
  check(!(await s.page.evaluate(() => document.getElementById('view').classList.contains('stale'))),
    'still greyed after the recovery');
  console.log(`live again ${Date.now() - back} ms after up was back`);
  const b1 = await s.page.evaluate(() => window.sbDashboard.state().lastEventAt);
  await post(tokens.manager, [ev('agent.logged_in', 'agent-10', {campaign_ids: ['camp-1']})]);
  await until(() => s.page.evaluate((x) => window.sbDashboard.state().lastEventAt > x, b1), 5000,
    'an event after the recovery');

  // sign-out
  await s.page.click('#signout');
  await s.page.waitForSelector('#signin:not([hidden])');
  const after = await s.page.evaluate(async () => (await fetch('/v1/session')).status);
  check(after === 401, `GET /v1/session after sign-out: ${after}`);

  for (const x of all) {
    const off = offOrigin(x.log);
    check(off.length === 0, `${x.name}: requests to another origin: ${off}`);
    const errs = x.log.errors.filter((e) => !/status of 401|WebSocket connection .* failed|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|net::ERR/.test(e));
    check(errs.length === 0, `${x.name}: errors in the page: ${errs.join(' | ')}`);
  }
  console.log('dashboard shell: all checks passed');
} finally {
  await b.close();
}
