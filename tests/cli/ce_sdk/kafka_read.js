// Reads records of our topics (kcat -J lines on stdin) with the CloudEvents
// SDK's Kafka binding (Kafka.toEvent) and compares them with the events the
// WebSocket feed gave (FEED, JSON lines): same id, type, source, subject,
// time and tenant, for every event of the feed.
//   kcat -C -J ... | node kafka_read.js FEED
"use strict";
const fs = require("fs");
const { Kafka } = require("cloudevents");

const feed = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const lines = fs.readFileSync(0, "utf8").split("\n").filter(Boolean);
const problems = [];
const bad = (m) => { problems.push(m); console.error("not ok: " + m); };
const byId = new Map();
for (const l of lines) {
  const r = JSON.parse(l);
  const headers = {};
  const h = r.headers || [];
  for (let i = 0; i + 1 < h.length; i += 2) headers[h[i]] = h[i + 1];
  if (!Kafka.isEvent({ headers, key: r.key, value: r.payload }))
    bad(`record ${r.topic}/${r.partition}@${r.offset}: not a CloudEvent: ${JSON.stringify(headers)}`);
  if (headers["content-type"] !== "application/avro")
    bad(`record @${r.offset}: content-type ${headers["content-type"]}`);
  const ev = Kafka.toEvent({ headers, key: r.key, value: Buffer.from(r.payload || "", "latin1") });
  if (byId.has(ev.id)) bad(`id ${ev.id} twice in Kafka`);
  byId.set(ev.id, { ev, headers });
}
for (const f of feed) {
  const k = byId.get(f.id);
  if (!k) { bad(`feed event ${f.id} not read from Kafka`); continue; }
  const e = k.ev;
  for (const a of ["type", "source", "subject", "specversion", "tenantid"])
    if (e[a] !== f[a]) bad(`${f.id}: ${a} ${e[a]} in Kafka, ${f[a]} on the feed`);
  if (Date.parse(e.time) !== Date.parse(f.time)) bad(`${f.id}: time ${e.time} vs ${f.time}`);
  if (e.partitionkey !== `${f.tenantid}:${f.subject}`) bad(`${f.id}: key ${e.partitionkey}`);
  // sb-event-id, the event's ULID, only beside a producer's own id
  const ulid = /^[0-9A-HJKMNP-TV-Z]{26}$/, sbid = k.headers["sb-event-id"];
  if (ulid.test(f.id) ? sbid !== undefined : !ulid.test(String(sbid)))
    bad(`${f.id}: sb-event-id ${sbid}`);
}
if (problems.length) process.exit(1);
console.log(`ok: ${feed.length} feed events read from Kafka as CloudEvents`);
