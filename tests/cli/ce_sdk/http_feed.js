// Drives the official CloudEvents JavaScript SDK against POST /v1/events in
// structured, binary and batch modes, each event sent twice (the retry must
// be a duplicate), and listens to GET /v1/stream meanwhile: every event must
// arrive once, with the producer's id. Writes the feed's events, one JSON a
// line, to OUT.
//   node http_feed.js BASE_URL TOKEN OUT
"use strict";
const fs = require("fs");
const { CloudEvent, HTTP, Mode, emitterFor, httpTransport } = require("cloudevents");
const WebSocket = require("ws");

const [base, token, out] = process.argv.slice(2);
const auth = { Authorization: "Bearer " + token };
const problems = [];
const bad = (m) => { problems.push(m); console.error("not ok: " + m); };

function event(subject, extra) {
  // the SDK's defaults: a UUID id, the time now with milliseconds
  return new CloudEvent({
    type: "lead.created", source: "/crm/web-form", subject,
    data: { lead_source: "web_form" }, ...extra,
  });
}

// The answer to one request: {accepted:[...], rejected:[...]}
function answer(where, body) {
  try { return JSON.parse(body); } catch (e) { bad(`${where}: not JSON: ${body}`); return {}; }
}

function check(where, got, ids, dup) {
  const acc = got.accepted || [];
  if ((got.rejected || []).length)
    bad(`${where}: rejected ${JSON.stringify(got.rejected)}`);
  if (acc.length !== ids.length)
    return bad(`${where}: ${acc.length} accepted, want ${ids.length}: ${JSON.stringify(got)}`);
  acc.forEach((a, i) => {
    if (a.id !== ids[i]) bad(`${where}: item ${i} answered id ${a.id}, want ${ids[i]}`);
    if (!!a.duplicate !== dup) bad(`${where}: item ${i} duplicate=${a.duplicate}, want ${dup}`);
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(a.event_id || ""))
      bad(`${where}: item ${i} has no ULID event_id: ${JSON.stringify(a)}`);
  });
}

async function main() {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/v1/stream", { headers: auth });
  const feed = [];
  let subscribed;
  const ready = new Promise((r) => { subscribed = r; });
  ws.on("message", (m) => {
    const o = JSON.parse(m.toString());
    if (o.welcome) ws.send(JSON.stringify({ subscribe: { topics: ["sb.leads"] } }));
    else if (o.subscribed) subscribed();
    else if (o.specversion) feed.push(o);
    else if (o.error) bad("feed: " + m);
  });
  ws.on("error", (e) => bad("feed: " + e.message));
  await ready;

  const sent = [];
  const url = base + "/v1/events";
  // structured and binary, through the SDK's own emitter and transport
  for (const mode of [Mode.STRUCTURED, Mode.BINARY]) {
    const emit = emitterFor(httpTransport(url), { mode });
    const ce = event(`lead-${mode}`);
    for (const dup of [false, true]) {
      const r = await emit(ce, { headers: auth });
      check(`${mode}${dup ? " retry" : ""}`, answer(mode, r.body), [ce.id], dup);
    }
    sent.push(ce);
  }
  // binary mode with an id that is no UUID, and an attribute that needs
  // percent-encoding (the spec's sender rule: '%' and non-ASCII encoded)
  {
    const ce = event("lead-pct", { id: "order 42/%é" });
    const m = HTTP.binary(ce);
    m.headers["ce-id"] = encodeURIComponent(ce.id).replace(/%2F/g, "/");
    for (const dup of [false, true]) {
      const r = await fetch(url, { method: "POST", headers: { ...m.headers, ...auth }, body: m.body });
      if (r.status !== 202) bad(`percent-encoded: status ${r.status}`);
      check(`percent-encoded${dup ? " retry" : ""}`, answer("pct", await r.text()), [ce.id], dup);
    }
    sent.push(ce);
  }
  // batch mode: a JSON array of structured events
  {
    const batch = [event("lead-b1"), event("lead-b2")];
    for (const dup of [false, true]) {
      const r = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/cloudevents-batch+json", ...auth },
        body: JSON.stringify(batch.map((e) => e.toJSON())),
      });
      if (r.status !== 202) bad(`batch: status ${r.status}`);
      check(`batch${dup ? " retry" : ""}`, answer("batch", await r.text()), batch.map((e) => e.id), dup);
    }
    sent.push(...batch);
  }
  // a binary-mode event the schema refuses says why, naming the header
  {
    const ce = event("lead-x", { traceparent: "00-abc" });
    const r = await emitterFor(httpTransport(url), { mode: Mode.BINARY })(ce, { headers: auth });
    if (!/traceparent: unknown attribute/.test(r.body)) bad(`extension: ${r.body}`);
  }

  // the feed: each event once, with the producer's id
  const deadline = Date.now() + 15000;
  while (feed.length < sent.length && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would be here by now
  ws.close();
  const ids = feed.map((e) => e.id).sort();
  const want = sent.map((e) => e.id).sort();
  if (JSON.stringify(ids) !== JSON.stringify(want))
    bad(`feed ids ${JSON.stringify(ids)}, want ${JSON.stringify(want)}`);
  for (const e of feed) {
    const s = sent.find((x) => x.id === e.id);
    if (!s) continue;
    if (e.source !== s.source || e.subject !== s.subject || e.type !== s.type)
      bad(`feed event ${e.id}: ${JSON.stringify(e)}`);
    if (Date.parse(e.time) !== Date.parse(s.time))
      bad(`feed event ${e.id}: time ${e.time}, sent ${s.time}`);
    // and the SDK reads it back as a CloudEvent
    new CloudEvent(e, true);
  }
  fs.writeFileSync(out, feed.map((e) => JSON.stringify(e)).join("\n") + "\n");
  if (problems.length) process.exit(1);
  console.log(`ok: ${sent.length} events, retries duplicates, feed ids the producer's`);
}
main().catch((e) => { console.error(e); process.exit(1); });
