// Compliance (admin): the audit log's chains and checkpoints as the
// projection says, data subject requests with their due dates, a consent
// and do-not-call look-up by subject, and security events. Everything is
// read through the read API (every read is itself recorded); the feed of
// sb.compliance keeps the lists live.
//
// What the page cannot know: whether every audit row links to the one
// before it, matches the Kafka log and the signed checkpoints. Only
// `switchboard audit verify` (which reads the log and the signing key's
// public half) proves that; the page says so next to the chains.

const FAILURES_MAX = 200;   // security failures kept (newest)
const ERASURES_MAX = 50;
const REQUESTS_MAX = 5000;  // GDPR requests loaded (all, up to this)
const ACCESS_DAYS = 7;      // days of per-user access shown
const CHAINS_EVERY_MS = 30000; // the chains are not on the feed: re-read

const CSS = '/ui/view_compliance.css';

export default {
  feed: {topics: ['sb.compliance'],
    types: ['dsar.*', 'subject.erased', 'security.*', 'access.recorded', 'consent.*']},

  async load(ctx) {
    const now = ctx.now();
    const since = new Date(now - 24 * 3600 * 1000).toISOString();
    const fromDay = ctx.fmt.day(now - (ACCESS_DAYS - 1) * 86400000, ctx.tz);
    const [chains, requests, erasures, failures, anomalies, access] = await Promise.all([
      ctx.getAll('/v1/projections/audit/chains', {}),
      ctx.getAll('/v1/projections/gdpr/requests', {}, REQUESTS_MAX),
      ctx.getAll('/v1/projections/gdpr/erasures',
        {from: new Date(now - 90 * 86400000).toISOString()}),
      ctx.getAll('/v1/projections/security/failures', {from: since}, 20000),
      ctx.getAll('/v1/projections/security/anomalies', {}),
      ctx.getAll('/v1/projections/security/access', {from: fromDay}),
    ]);
    const m = {
      chains, chainsAt: now, chainsErr: '',
      requests: new Map(requests.map((r) => [r.request_id, r])),
      requestsCapped: requests.length >= REQUESTS_MAX,
      erasures: new Map(),
      failures: new Map(),
      failures24h: failures.length,
      anomalies: new Map(anomalies.map((a) => [a.ip, a])),
      access: new Map(),
      lookup: {subject: '', busy: false, error: '', consent: null, supp: null, optouts: null, at: 0},
      el: {},
      rowOf: new Map(), // request id -> its row
    };
    for (const e of erasures.slice(-ERASURES_MAX)) m.erasures.set(e.event_id, e);
    for (const f of failures.slice(-FAILURES_MAX)) m.failures.set(f.event_id, f);
    for (const a of access) m.access.set(`${a.user_id}|${a.day}`, a);
    return m;
  },

  render(ctx, m) {
    const {h} = ctx;
    if (!document.querySelector(`link[href="${CSS}"]`))
      document.head.append(h('link', {rel: 'stylesheet', href: CSS}));
    m.el = {};
    const el = m.el;
    el.tiles = h('div', {class: 'grid tiles', 'data-testid': 'tiles'});
    el.chains = h('tbody');
    el.chainsNote = h('p', {class: 'muted small'});
    el.requests = h('tbody');
    el.requestsNote = h('p', {class: 'muted small'});
    el.erasures = h('tbody');
    el.failures = h('tbody');
    el.anomalies = h('tbody');
    el.access = h('tbody');
    el.lookupOut = h('div', {'data-testid': 'lookup-result', 'aria-live': 'polite'});
    el.subject = h('input', {id: 'cmp-subject', name: 'subject', type: 'search', required: true,
      maxlength: 128, autocomplete: 'off', spellcheck: 'false', placeholder: 'lead-42'});
    const form = h('form', {class: 'toolbar', 'data-testid': 'lookup-form', onsubmit: (e) => {
      e.preventDefault();
      lookup(ctx, m, el.subject.value.trim());
    }},
    h('label', {for: 'cmp-subject'}, 'Data subject'), el.subject,
    h('button', {type: 'submit'}, 'Look up'));

    ctx.fill(ctx.root,
      h('div', {class: 'toolbar'}, h('h1', {}, 'Compliance'),
        h('span', {class: 'muted'}, `tenant ${ctx.session.tenant}`)),
      el.tiles,
      h('div', {class: 'cmp-cols'},
        h('section', {class: 'panel', 'data-testid': 'audit', 'aria-labelledby': 'cmp-audit-h'},
          h('div', {class: 'toolbar'},
            h('h2', {id: 'cmp-audit-h'}, 'Audit log: hash chains and checkpoints'),
            h('button', {type: 'button', class: 'secondary', 'data-testid': 'chains-refresh',
              onclick: () => refreshChains(ctx, m)}, 'Refresh')),
          h('div', {class: 'scroll short'}, h('table', {},
            h('thead', {}, h('tr', {},
              h('th', {}, 'Topic'), h('th', {class: 'num'}, 'Part.'),
              h('th', {class: 'num'}, 'Rows'), h('th', {}, 'Head'),
              h('th', {}, 'Last checkpoint'), h('th', {class: 'num'}, 'Rows since'),
              h('th', {}, 'Checkpointed row'))),
            el.chains)),
          el.chainsNote,
          h('p', {class: 'muted small', 'data-testid': 'audit-cannot-know'},
            'What this page cannot know: whether every row links to the one before it, ' +
            'matches the Kafka log, and matches the signed checkpoints (the times above are ' +
            'a copy kept in the database, which its users could change). ' +
            'Only “switchboard audit verify” proves the log unbroken.')),
        h('section', {class: 'panel', 'data-testid': 'gdpr', 'aria-labelledby': 'cmp-gdpr-h'},
          h('h2', {id: 'cmp-gdpr-h'}, 'Data subject requests (GDPR)'),
          h('div', {class: 'scroll short'}, h('table', {},
            h('thead', {}, h('tr', {},
              h('th', {}, 'Request'), h('th', {}, 'Subject'), h('th', {}, 'Kind'),
              h('th', {}, 'Received'), h('th', {}, 'Due'), h('th', {}, 'Status'))),
            el.requests)),
          el.requestsNote,
          h('h2', {}, 'Erasures'),
          h('div', {class: 'scroll short'}, h('table', {'data-testid': 'erasures'},
            h('thead', {}, h('tr', {}, h('th', {}, 'Erased'), h('th', {}, 'Subject'),
              h('th', {}, 'Trigger'), h('th', {}, 'Request'))),
            el.erasures))),
        h('section', {class: 'panel', 'data-testid': 'lookup', 'aria-labelledby': 'cmp-lookup-h'},
          h('h2', {id: 'cmp-lookup-h'}, 'Consent and do-not-call look-up'),
          form,
          h('p', {class: 'muted small'},
            'By subject id (a lead id). Consent evidence is shown in clear to admins, as the ' +
            'read API reveals it; a phone number or e-mail cannot be looked up here: ' +
            'suppressions hold only their keyed hash, and the key stays on the server.'),
          el.lookupOut),
        h('section', {class: 'panel', 'data-testid': 'security', 'aria-labelledby': 'cmp-sec-h'},
          h('h2', {id: 'cmp-sec-h'}, 'Security events (last 24 h)'),
          h('div', {class: 'scroll short'}, h('table', {'data-testid': 'failures'},
            h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Kind'),
              h('th', {}, 'User'), h('th', {}, 'Address'), h('th', {}, 'Reason'),
              h('th', {class: 'num'}, 'Attempts'), h('th', {}, 'Path'))),
            el.failures)),
          h('h2', {}, 'Addresses flagged'),
          h('table', {'data-testid': 'anomalies'},
            h('thead', {}, h('tr', {}, h('th', {}, 'Address'), h('th', {}, 'First'),
              h('th', {}, 'Last'), h('th', {class: 'num'}, 'Flagged'),
              h('th', {class: 'num'}, 'Attempts'))),
            el.anomalies),
          h('h2', {}, `Reads and sign-ins (last ${ACCESS_DAYS} days)`),
          h('div', {class: 'scroll short'}, h('table', {'data-testid': 'access'},
            h('thead', {}, h('tr', {}, h('th', {}, 'Day'), h('th', {}, 'User'),
              h('th', {class: 'num'}, 'Reads'), h('th', {class: 'num'}, 'Records'),
              h('th', {class: 'num'}, 'Sign-ins'), h('th', {class: 'num'}, 'Sign-outs'),
              h('th', {}, 'Last'))),
            el.access)))));
    drawChains(ctx, m);
    drawRequests(ctx, m);
    drawErasures(ctx, m);
    drawFailures(ctx, m);
    drawAnomalies(ctx, m);
    drawAccess(ctx, m);
    drawLookup(ctx, m);
    drawTiles(ctx, m);
    if (m.lookup.subject) el.subject.value = m.lookup.subject;
  },

  event(ctx, m, ev) {
    // the field a schema maps to the CloudEvent's subject is not in data
    const d = {...(ev.data || {})};
    if (/^(dsar|consent|subject)\./.test(ev.type) && !d.subject_id) d.subject_id = ev.subject;
    if (/^(security|access)\./.test(ev.type) && !d.user_id) d.user_id = ev.subject;
    const t = ctx.ms(ev.time);
    switch (ev.type) {
      case 'dsar.received': {
        const r = m.requests.get(d.request_id) || {request_id: d.request_id};
        const recv = iso(t);
        if (!r.received_at) r.received_at = recv;
        if (!r.subject_id) r.subject_id = d.subject_id;
        if (!r.kind) r.kind = d.kind;
        if (!r.due_at) r.due_at = d.due_at || iso(addMonth(t));
        m.requests.set(d.request_id, r);
        drawRequest(ctx, m, r);
        break;
      }
      case 'dsar.completed': {
        const r = m.requests.get(d.request_id) || {request_id: d.request_id, subject_id: d.subject_id};
        if (!r.completed_at) {
          r.completed_at = iso(t);
          r.outcome = d.outcome;
          r.records_count = d.records_count;
          if (!r.kind) r.kind = d.kind;
          if (r.due_at) r.completed_late = t > ctx.ms(r.due_at);
        }
        m.requests.set(d.request_id, r);
        drawRequest(ctx, m, r);
        break;
      }
      case 'subject.erased':
        if (m.erasures.has(ev.id)) return;
        m.erasures.set(ev.id, {event_id: ev.id, subject_id: d.subject_id, key_id: d.key_id,
          trigger: d.trigger, request_id: d.request_id, erased_at: ev.time});
        trim(m.erasures, ERASURES_MAX);
        drawErasures(ctx, m);
        if (m.lookup.subject && m.lookup.subject === d.subject_id) lookup(ctx, m, m.lookup.subject);
        break;
      case 'security.login_failed':
      case 'security.access_denied': {
        if (m.failures.has(ev.id)) return;
        const f = {event_id: ev.id, occurred_at: ev.time,
          kind: ev.type === 'security.login_failed' ? 'login_failed' : 'access_denied',
          user_id: d.user_id, ip: d.ip || ev.actorip, reason: d.reason, attempts: d.attempts || 1,
          request_path: d.request_path};
        m.failures.set(ev.id, f);
        m.failures24h++;
        trim(m.failures, FAILURES_MAX);
        addFailure(ctx, m, f);
        break;
      }
      case 'access.recorded': {
        const day = ctx.fmt.day(t, ctx.tz);
        const key = `${d.user_id}|${day}`;
        let a = m.access.get(key);
        // the snapshot holds every record up to its row's last_at
        if (a && a.last_at && t <= ctx.ms(a.last_at)) return;
        if (!a) a = {user_id: d.user_id, day, reads: 0, records: 0, logins: 0, logouts: 0};
        const n = Number(d.attempts) || 1;
        if (d.action === 'READ') { a.reads = Number(a.reads) + n; a.records = Number(a.records) + (Number(d.records_count) || 0); }
        else if (d.action === 'LOGIN') a.logins = Number(a.logins) + n;
        else if (d.action === 'LOGOUT') a.logouts = Number(a.logouts) + n;
        else return;
        a.last_at = ev.time;
        m.access.set(key, a);
        drawAccess(ctx, m);
        break;
      }
      case 'consent.given':
      case 'consent.withdrawn':
        if (m.lookup.subject && d.subject_id === m.lookup.subject) lookup(ctx, m, m.lookup.subject);
        return;
      default:
        return;
    }
    drawTiles(ctx, m);
  },

  tick(ctx, m, now) {
    // due dates count down, overdue flags appear as their time passes
    for (const [id, tr] of m.rowOf) {
      const r = m.requests.get(id);
      if (r && !r.completed_at && tr.dataset.status !== statusOf(ctx, r, now).key) drawRequest(ctx, m, r);
    }
    drawTiles(ctx, m);
    if (now - m.chainsAt >= CHAINS_EVERY_MS) refreshChains(ctx, m);
  },
};

// ---- helpers -----------------------------------------------------------

function iso(t) { return Number.isFinite(t) ? new Date(t).toISOString() : null; }

// One calendar month after t (GDPR Art. 12(3)), as the gdpr processor does.
function addMonth(t) {
  const d = new Date(t);
  const m = d.getUTCMonth() + 1, y = d.getUTCFullYear() + (m > 11 ? 1 : 0);
  const last = new Date(Date.UTC(y, (m % 12) + 1, 0)).getUTCDate();
  return Date.UTC(y, m % 12, Math.min(d.getUTCDate(), last), d.getUTCHours(),
    d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

function trim(map, max) {
  while (map.size > max) map.delete(map.keys().next().value);
}

function when(ctx, t) {
  const x = ctx.ms(t);
  return Number.isFinite(x) ? `${ctx.fmt.day(x, ctx.tz)} ${ctx.fmt.time(x, ctx.tz)}` : '–';
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function statusOf(ctx, r, now) {
  const due = ctx.ms(r.due_at);
  if (r.completed_at) {
    const late = r.completed_late === true || r.completed_late === 't';
    return late ? {key: 'completed_late', text: `completed late (${r.outcome || 'done'})`, band: 'band-warn'}
      : {key: 'completed', text: `completed (${r.outcome || 'done'})`, band: ''};
  }
  if (!Number.isFinite(due)) return {key: 'open', text: 'open, no due date', band: ''};
  if (due <= now) return {key: 'overdue', text: `OVERDUE by ${ctx.fmt.dur(now - due)}`, band: 'band-bad'};
  const days = (due - now) / 86400000;
  return days < 7 ? {key: 'due_soon', text: `open, due in ${days < 1 ? ctx.fmt.dur(due - now) : `${Math.floor(days)} days`}`, band: 'band-warn'}
    : {key: 'open', text: `open, due in ${Math.floor(days)} days`, band: ''};
}

function tile(h, id, label, value, cls) {
  return h('div', {class: `panel tile ${cls || ''}`, 'data-testid': `tile-${id}`},
    h('div', {class: 'value'}, value), h('div', {class: 'label'}, label));
}

function drawTiles(ctx, m) {
  const {h} = ctx, now = ctx.now();
  let open = 0, overdue = 0;
  for (const r of m.requests.values()) {
    const s = statusOf(ctx, r, now).key;
    if (s === 'overdue') overdue++;
    if (s !== 'completed' && s !== 'completed_late') open++;
  }
  const bad = m.chains.filter((c) => !truthy(c.head_matches) || c.checkpoint_matches === false ||
    c.checkpoint_matches === 'f').length;
  const cps = m.chains.map((c) => ctx.ms(c.checkpoint_at)).filter(Number.isFinite);
  const lastCp = cps.length ? Math.max(...cps) : NaN;
  ctx.fill(m.el.tiles,
    tile(h, 'chains', `hash chains${bad ? `, ${bad} not as recorded` : ', heads as recorded'}`,
      ctx.fmt.num(m.chains.length), bad ? 'bad' : ''),
    tile(h, 'checkpoint', Number.isFinite(lastCp) ? `last signed checkpoint (${when(ctx, lastCp)})`
      : 'no checkpoint recorded yet',
    Number.isFinite(lastCp) ? ago(now - lastCp) : '–', Number.isFinite(lastCp) ? '' : 'warn'),
    tile(h, 'open', 'open data subject requests', ctx.fmt.num(open)),
    tile(h, 'overdue', 'overdue requests', ctx.fmt.num(overdue), overdue ? 'bad' : ''),
    tile(h, 'failures', 'failed logins and denials, 24 h', ctx.fmt.num(m.failures24h),
      m.anomalies.size ? 'warn' : ''));
}

function truthy(v) { return v === true || v === 't' || v === 'true'; }

function drawChains(ctx, m) {
  const {h} = ctx, now = ctx.now();
  const rows = [...m.chains].sort((a, b) => a.topic.localeCompare(b.topic) ||
    a.kafka_partition - b.kafka_partition);
  ctx.fill(m.el.chains, rows.length ? rows.map((c) => {
    const headOk = truthy(c.head_matches);
    const cpAt = ctx.ms(c.checkpoint_at);
    const cpOk = c.checkpoint_seq === null || c.checkpoint_seq === undefined ? null : truthy(c.checkpoint_matches);
    return h('tr', {dataset: {chain: `${c.topic}/${c.kafka_partition}`, head: headOk ? 'ok' : 'bad'},
      class: headOk && cpOk !== false ? '' : 'band-bad'},
    h('td', {}, c.topic), h('td', {class: 'num'}, c.kafka_partition),
    h('td', {class: 'num'}, ctx.fmt.num(c.last_seq)),
    h('td', {title: `head hash ${c.head_hash}`}, headOk ? '✓ row present, hash as recorded'
      : '✗ head row missing or hash differs'),
    h('td', {}, Number.isFinite(cpAt) ? `seq ${ctx.fmt.num(c.checkpoint_seq)}, ${ago(now - cpAt)}` : 'none yet'),
    h('td', {class: 'num'}, ctx.fmt.num(c.rows_since_checkpoint)),
    h('td', {}, cpOk === null ? '–' : cpOk ? '✓ as signed' : '✗ missing or differs'));
  }) : h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'No audited event yet.')));
  ctx.fill(m.el.chainsNote, m.chainsErr
    ? h('span', {class: 'error'}, `Could not re-read the chains (${m.chainsErr}); shown as of ${when(ctx, m.chainsAt)}.`)
    : `Read ${when(ctx, m.chainsAt)}; the audit log is not on the live feed, so this is re-read every ${CHAINS_EVERY_MS / 1000} s.`);
}

async function refreshChains(ctx, m) {
  if (m.chainsBusy) return;
  m.chainsBusy = true;
  try {
    m.chains = await ctx.getAll('/v1/projections/audit/chains', {});
    m.chainsErr = '';
  } catch (e) {
    m.chainsErr = e.message;
  } finally {
    m.chainsAt = ctx.now();
    m.chainsBusy = false;
  }
  if (m.el.chains && m.el.chains.isConnected) { drawChains(ctx, m); drawTiles(ctx, m); }
}

function requestRow(ctx, r, now) {
  const {h} = ctx, s = statusOf(ctx, r, now);
  return h('tr', {dataset: {request: r.request_id, status: s.key, subject: r.subject_id || ''}, class: s.band},
    h('td', {}, r.request_id), h('td', {}, r.subject_id || '–'), h('td', {}, r.kind || '–'),
    h('td', {}, when(ctx, r.received_at)), h('td', {}, when(ctx, r.due_at)),
    h('td', {'data-testid': 'request-status'}, s.text));
}

// Open requests first, soonest due first; then completed, newest first.
function requestOrder(ctx) {
  return (a, b) => {
    const oa = a.completed_at ? 1 : 0, ob = b.completed_at ? 1 : 0;
    if (oa !== ob) return oa - ob;
    if (!oa) return (ctx.ms(a.due_at) || Infinity) - (ctx.ms(b.due_at) || Infinity);
    return ctx.ms(b.completed_at) - ctx.ms(a.completed_at);
  };
}

function drawRequests(ctx, m) {
  const now = ctx.now();
  const rows = [...m.requests.values()].sort(requestOrder(ctx));
  m.rowOf = new Map();
  const row = (r) => { const tr = requestRow(ctx, r, now); m.rowOf.set(r.request_id, tr); return tr; };
  ctx.fill(m.el.requests, rows.length ? rows.map(row)
    : ctx.h('tr', {}, ctx.h('td', {colspan: 6, class: 'muted'}, 'No request received.')));
  ctx.fill(m.el.requestsNote, m.requestsCapped
    ? `Showing the first ${REQUESTS_MAX} requests only.` : 'Due: one calendar month after receipt unless the request says; overdue = open past its due time, as of now.');
}

// One request changed: its row replaced in place, or the list redrawn when
// it is new (its place in the order is new too).
function drawRequest(ctx, m, r) {
  const old = m.rowOf.get(r.request_id);
  const done = (tr) => tr.dataset.status === 'completed' || tr.dataset.status === 'completed_late';
  if (old && done(old) === !!r.completed_at) {
    const tr = requestRow(ctx, r, ctx.now());
    old.replaceWith(tr);
    m.rowOf.set(r.request_id, tr);
  } else {
    drawRequests(ctx, m);
  }
}

function drawErasures(ctx, m) {
  const {h} = ctx;
  const rows = [...m.erasures.values()].sort((a, b) => ctx.ms(b.erased_at) - ctx.ms(a.erased_at));
  ctx.fill(m.el.erasures, rows.length ? rows.map((e) => h('tr', {dataset: {erasure: e.event_id}},
    h('td', {}, when(ctx, e.erased_at)), h('td', {}, e.subject_id), h('td', {}, e.trigger || '–'),
    h('td', {}, e.request_id || '–')))
    : h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'None in the last 90 days.')));
}

function failureRow(ctx, f) {
  const {h} = ctx;
  return h('tr', {dataset: {event: f.event_id, kind: f.kind}, class: truthy(f.anomaly) ? 'band-bad' : ''},
    h('td', {}, when(ctx, f.occurred_at)), h('td', {}, f.kind === 'login_failed' ? 'login failed' : 'access denied'),
    h('td', {}, f.user_id || '–'), h('td', {}, f.ip || '–'), h('td', {}, f.reason || '–'),
    h('td', {class: 'num'}, ctx.fmt.num(f.attempts || 1)), h('td', {}, f.request_path || '–'));
}

function drawFailures(ctx, m) {
  const rows = [...m.failures.values()].sort((a, b) => ctx.ms(b.occurred_at) - ctx.ms(a.occurred_at));
  ctx.fill(m.el.failures, rows.length ? rows.map((f) => failureRow(ctx, f))
    : ctx.h('tr', {class: 'empty'}, ctx.h('td', {colspan: 7, class: 'muted'}, 'None in the last 24 h.')));
}

// A new failure: one row on top, the oldest beyond the bound removed.
function addFailure(ctx, m, f) {
  const tb = m.el.failures;
  const empty = tb.querySelector('tr.empty');
  if (empty) empty.remove();
  tb.prepend(failureRow(ctx, f));
  while (tb.rows.length > FAILURES_MAX) tb.lastElementChild.remove();
}

function drawAnomalies(ctx, m) {
  const {h} = ctx;
  const rows = [...m.anomalies.values()].sort((a, b) => ctx.ms(b.last_flagged_at) - ctx.ms(a.last_flagged_at));
  ctx.fill(m.el.anomalies, rows.length ? rows.map((a) => h('tr', {dataset: {ip: a.ip}, class: 'band-warn'},
    h('td', {}, a.ip), h('td', {}, when(ctx, a.first_flagged_at)), h('td', {}, when(ctx, a.last_flagged_at)),
    h('td', {class: 'num'}, ctx.fmt.num(a.flagged)), h('td', {class: 'num'}, ctx.fmt.num(a.attempts))))
    : h('tr', {}, h('td', {colspan: 5, class: 'muted'}, 'No address flagged.')));
}

function drawAccess(ctx, m) {
  const {h} = ctx;
  const rows = [...m.access.values()].sort((a, b) => String(b.day).localeCompare(String(a.day)) ||
    String(a.user_id).localeCompare(String(b.user_id)));
  ctx.fill(m.el.access, rows.length ? rows.map((a) => h('tr', {dataset: {user: a.user_id, day: a.day}},
    h('td', {}, a.day), h('td', {}, a.user_id), h('td', {class: 'num'}, ctx.fmt.num(a.reads)),
    h('td', {class: 'num'}, ctx.fmt.num(a.records)), h('td', {class: 'num'}, ctx.fmt.num(a.logins)),
    h('td', {class: 'num'}, ctx.fmt.num(a.logouts)), h('td', {}, when(ctx, a.last_at))))
    : h('tr', {}, h('td', {colspan: 7, class: 'muted'}, 'Nothing recorded.')));
}

// ---- the look-up ----------------------------------------------------------

async function lookup(ctx, m, subject) {
  const L = m.lookup;
  if (!subject) return;
  const seq = (L.seq || 0) + 1;
  Object.assign(L, {subject, seq, busy: true, error: ''});
  drawLookup(ctx, m);
  try {
    const q = {subject};
    const [consent, supp, optouts] = await Promise.all([
      ctx.getAll('/v1/projections/compliance/consent', q, 1000),
      ctx.getAll('/v1/projections/compliance/suppression', q, 1000),
      ctx.getAll('/v1/projections/compliance/opt_outs', q, 1000),
    ]);
    if (L.seq !== seq) return;
    Object.assign(L, {consent, supp, optouts, at: ctx.now(), busy: false});
  } catch (e) {
    if (L.seq !== seq) return;
    Object.assign(L, {busy: false, error: e.message, consent: null, supp: null, optouts: null});
  }
  if (m.el.lookupOut && m.el.lookupOut.isConnected) drawLookup(ctx, m);
}

function drawLookup(ctx, m) {
  const {h} = ctx, L = m.lookup, out = m.el.lookupOut;
  out.dataset.subject = L.subject;
  out.dataset.state = L.busy ? 'busy' : L.error ? 'error' : L.consent ? 'done' : 'idle';
  if (!L.subject) { ctx.fill(out); return; }
  if (L.busy) { ctx.fill(out, h('p', {class: 'loading'}, `Looking up ${L.subject}…`)); return; }
  if (L.error) { ctx.fill(out, h('p', {class: 'error'}, `Look-up failed: ${L.error}`)); return; }
  const table = (id, head, rows, cells, none) => h('table', {'data-testid': id},
    h('thead', {}, h('tr', {}, head.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.length ? rows.map(cells)
      : h('tr', {}, h('td', {colspan: head.length, class: 'muted'}, none))));
  const now = ctx.now();
  ctx.fill(out,
    h('h3', {}, `Consent of ${L.subject}`),
    h('div', {class: 'scroll short'}, table('consent', ['Purpose', 'Channel', 'Status', 'Since', 'Expires',
      'Method', 'Text', 'Evidence', 'Subject IP'], L.consent, (c) => {
      const expired = c.expires_at && ctx.ms(c.expires_at) <= now;
      return h('tr', {dataset: {purpose: c.purpose, channel: c.channel, status: c.status},
        class: c.status === 'withdrawn' || expired ? 'band-warn' : 'band-ok'},
      h('td', {}, c.purpose), h('td', {}, c.channel),
      h('td', {}, expired ? `${c.status} (expired)` : c.status), h('td', {}, when(ctx, c.changed_at)),
      h('td', {}, c.expires_at ? when(ctx, c.expires_at) : 'never'), h('td', {}, c.method || '–'),
      h('td', {}, c.text_version || '–'), h('td', {class: 'pii', 'data-field': 'evidence_url'}, c.evidence_url || '–'),
      h('td', {class: 'pii', 'data-field': 'subject_ip'}, c.subject_ip || '–'));
    }, 'No consent recorded.')),
    h('h3', {}, 'Suppressions (opt-outs, do-not-call)'),
    h('div', {class: 'scroll short'}, table('suppression', ['Kind', 'Matches', 'Channel', 'Purpose',
      'Received', 'Expires', 'List'], L.supp, (s) => {
      const lapsed = s.expires_at && ctx.ms(s.expires_at) <= now;
      return h('tr', {dataset: {kind: s.kind, match: s.match}, class: lapsed ? '' : 'band-bad'},
        h('td', {}, s.kind), h('td', {title: s.value}, s.match === 'subject' ? 'the subject' : s.match.replace('_hmac', ' (hashed)')),
        h('td', {}, s.channel), h('td', {}, s.purpose), h('td', {}, when(ctx, s.received_at)),
        h('td', {}, s.expires_at ? `${when(ctx, s.expires_at)}${lapsed ? ' (lapsed)' : ''}` : 'never'),
        h('td', {}, s.dnc_list || '–'));
    }, 'Not suppressed.')),
    h('h3', {}, 'Opt-outs honoured'),
    h('div', {class: 'scroll short'}, table('opt_outs', ['Kind', 'Channel', 'Received', 'Honoured',
      'Business days', 'Late'], L.optouts, (o) => h('tr', {dataset: {kind: o.kind}, class: truthy(o.late) ? 'band-bad' : ''},
      h('td', {}, o.kind), h('td', {}, o.channel), h('td', {}, when(ctx, o.received_at)),
      h('td', {}, when(ctx, o.honoured_at)), h('td', {class: 'num'}, ctx.fmt.num(o.business_days)),
      h('td', {}, truthy(o.late) ? 'LATE (over 10)' : 'no')), 'None.')),
    h('p', {class: 'muted small'}, `Read ${when(ctx, L.at)}; updated when a consent event about this subject arrives.`));
}
