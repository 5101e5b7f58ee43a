// The dashboard's browser tests: Debian's chromium, headless, driven by
// playwright-core (which never downloads a browser), against a running
// `up` (tests/cli/dashboard_lib.sh starts it and passes its URL).
//
//   const b = await launch();
//   const s = await open(b, {token, name: 'supervisor'});   // signed in
//   s.page, s.log.{requests,responses,frames,errors}
//   await shot(s.page, 'wallboard-1920');                   // $SB_SHOTS/…png
//   offOrigin(s.log)                                        // [] or the URLs
import {chromium} from 'playwright-core';
import {mkdirSync, writeFileSync, renameSync, existsSync} from 'node:fs';
import {join} from 'node:path';

export const base = process.env.SB_URL;
if (!base) throw new Error('SB_URL is not set (run through tests/cli/dashboard_lib.sh)');
export const shots = process.env.SB_SHOTS || '';
export const sizes = {wallboard: {width: 1920, height: 1080},
  laptop: {width: 1366, height: 768}, phone: {width: 375, height: 667}};

export function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

export async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}: ${last && last.message ? last.message : last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.SB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // root (CI) needs --no-sandbox; /dev/shm is small in containers
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
      '--no-first-run', '--disable-extensions'],
  });
}

// A new browser context on the dashboard; signed in when token is given.
// Records every request, response (with its body, for scoping checks),
// WebSocket frame received and console error or page error.
export async function open(browser, {token, viewport, name = 'page', reducedMotion} = {}) {
  const ctx = await browser.newContext({viewport: viewport || sizes.laptop,
    reducedMotion: reducedMotion || 'no-preference'});
  const page = await ctx.newPage();
  const log = {requests: [], responses: [], frames: [], sockets: [], errors: []};
  page.on('request', (r) => log.requests.push(r.url()));
  page.on('response', async (r) => {
    const entry = {url: r.url(), status: r.status(), body: ''};
    log.responses.push(entry);
    try { entry.body = (await r.body()).toString('utf8'); } catch { /* none */ }
  });
  page.on('websocket', (ws) => {
    log.sockets.push(ws.url());
    ws.on('framereceived', (f) => log.frames.push(String(f.payload)));
  });
  page.on('console', (m) => { if (m.type() === 'error') log.errors.push(`${name}: console: ${m.text()}`); });
  page.on('pageerror', (e) => log.errors.push(`${name}: page error: ${e.message}`));
  await page.goto(`${base}/`);
  if (token) await signIn(page, token);
  return {ctx, page, log, name};
}

export async function signIn(page, token) {
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#top:not([hidden])', {timeout: 15000});
}

// Waits until the shown view has its snapshot (data-ready) and the feed is live.
export async function ready(page, view, ms = 20000) {
  if (view) await page.waitForFunction((v) => location.hash.startsWith(`#/${v}`), view, {timeout: ms});
  await page.waitForSelector('#view[data-ready="true"]', {timeout: ms});
  await page.waitForSelector('#fresh[data-state="live"]', {timeout: ms});
}

// Requests and sockets to anything but the dashboard's own origin.
export function offOrigin(log) {
  const own = new URL(base);
  const ws = `${own.protocol === 'https:' ? 'wss:' : 'ws:'}//${own.host}`;
  return [...log.requests, ...log.sockets].filter((u) => {
    if (u.startsWith('data:')) return false;
    const x = new URL(u);
    return !(x.origin === own.origin || `${x.protocol}//${x.host}` === ws);
  });
}

export async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, {recursive: true});
  await page.screenshot({path: join(shots, `${name}.png`), fullPage: false});
}

// POST events with a token from the test itself (not the page): resolves
// the time of the 202.
export async function post(token, events) {
  const res = await fetch(`${base}/v1/events`, {method: 'POST',
    headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'application/cloudevents-batch+json'},
    body: JSON.stringify(events)});
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status} ${text}`);
  return Date.now();
}

export async function api(token, path) {
  const res = await fetch(`${base}${path}`, {headers: {Authorization: `Bearer ${token}`}});
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return {status: res.status, body, text};
}

// Asks the runner to `kill` (SIGKILL) or `restart` the `up` under test and
// waits until it has.
let ctl = 0;
export async function control(what, ms = 120000) {
  const dir = process.env.SB_CTL;
  if (!dir) throw new Error('SB_CTL is not set');
  const n = ctl++;
  writeFileSync(join(dir, `.req-${n}`), what);
  renameSync(join(dir, `.req-${n}`), join(dir, `req-${n}`));
  await until(() => existsSync(join(dir, `done-${n}`)), ms, `the runner to ${what} up`);
}

let seq = 0;
// A CloudEvent for post(): ev('call.started', 'call-1', {...}, {time})
export function ev(type, subject, data, {time, source = 'test://dashboard', id} = {}) {
  return {specversion: '1.0', id: id || `dash-${process.pid}-${Date.now()}-${seq++}`,
    source, type, subject, time: time || new Date().toISOString(), data};
}

// The test's tokens, by name, from SB_TOKENS (JSON written by the runner).
export const tokens = JSON.parse(process.env.SB_TOKENS || '{}');
