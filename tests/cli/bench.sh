#!/usr/bin/env bash
# switchboard bench, small: every stage runs, checks its records and lands in
# the table and the JSON; bad options are refused in one line. Two runs (an
# instance each): every stage but routing; then sink, e2e with routing's
# processors (their derived events counted apart, no chain compared) and the
# routing stage (a backlog of 200 leads over 10 tenants, then 100 events
# posted in a second): every lead assigned exactly once, each lead's decision
# latency and each lead.assigned seen on the WebSocket reported. The second
# run's workers fetch with a 5 ms wait (--worker-set): their global tables
# catch up on the embedded broker in a fraction of a second instead of ~9 s.
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$work"' EXIT

expect_error 2 "--stages: unknown stage 'warp'" "$SB" bench --stages warp --data-dir "$work/d"
expect_error 2 "--events must be a whole number from 1000" "$SB" bench --events 5 --data-dir "$work/d"
expect_error 2 "--e2e-processors: unknown processor 'nope'" "$SB" bench --e2e-processors audit,nope --data-dir "$work/d"
expect_error 2 "--worker-set: KEY=VALUE" "$SB" bench --worker-set nope --data-dir "$work/d"

"$SB" bench --events 3000 --http-events 2000 --fresh-rate 500 --fresh-seconds 1 \
  --stages produce,ceiling,sink,e2e,replay,http,fresh --json "$work/b.json" --data-dir "$work/d" >"$work/out" 2>"$work/err" ||
  fail "bench failed: $(tail -5 "$work/err")"
for row in 'produce (librdkafka producer)' 'ceiling (bare consumer)' 'ceiling (PostgreSQL sink)' \
  'rows as audit'"'"'s: yes' 'of the ceiling, ' '% of the sink' 'end to end (audit' \
  'replay (audit' 'HTTP ingest, batched' 'HTTP ingest, single' 'freshness (202' 'engine memory'; do
  grep -qF "$row" "$work/out" || fail "the table lacks '$row': $(cat "$work/out")"
done
/usr/bin/python3 - "$work/b.json" <<'PY' || fail "bench JSON: $(cat "$work/b.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["run"]["events"] == 3000
for stage, key in [("produce", "events_per_s"), ("ceiling", "events_per_s"),
                   ("pg_ceiling", "events_per_s"), ("pg_ceiling", "mb_per_s"),
                   ("end_to_end", "ratio_to_kafka_ceiling"),
                   ("end_to_end", "ratio_to_pg_ceiling"),
                   ("end_to_end", "events_per_s"), ("replay", "events_per_s"),
                   ("http_ingest", "batched_events_per_s"),
                   ("http_ingest", "single_events_per_s"), ("freshness", "p99_ms")]:
    assert j[stage][key] > 0, (stage, key)
assert j["freshness"]["received"] == j["freshness"]["sent"] == 500
assert j["end_to_end"]["engine_peak_rss_bytes"] > 0
# the sink wrote the audit processor's rows: one COPY transaction a batch,
# and the same hash chains as the audit processor made end to end
s = j["pg_ceiling"]
assert s["transactions"] == -(-3000 // s["batch_max_events"]), s
assert s["copy_bytes"] > j["run"]["bytes"], s
assert s["same_rows_as_audit"] is True and s["chains"] > 0, s
e = j["end_to_end"]
assert abs(e["ratio_to_pg_ceiling"] - e["events_per_s"] / s["events_per_s"]) < 1e-6 * e["ratio_to_pg_ceiling"]
assert abs(e["ratio_to_kafka_ceiling"] - e["events_per_s"] / j["ceiling"]["events_per_s"]) < 1e-6 * e["ratio_to_kafka_ceiling"]
assert j["machine"]["cores"] >= 1
assert j["end_to_end"]["processors"] == "audit" and j["end_to_end"]["derived_events"] == 0
assert "routing" not in j
PY
ls "$work/d" | grep -q bench- && fail "the data directory was not removed"

# the sink beside an e2e stage with routing's processors, and the routing
# stage: no Kafka stage but the records they stand on; the sink's table is
# made and dropped in the run; routing's derived events (lead.scored,
# routing.input...) are counted apart, so no chain comparison (null) and
# no Kafka ratio
"$SB" bench --events 2000 --stages sink,e2e,routing --e2e-processors audit,routing,assignment,campaigns \
  --routing-leads 200 --routing-rate 100 --routing-seconds 1 --worker-set kafka.fetch.wait.max.ms=5 \
  --json "$work/s.json" --data-dir "$work/s" >"$work/out" 2>"$work/err" ||
  fail "bench --stages sink,e2e,routing failed: $(tail -5 "$work/err")"
for row in 'ceiling (PostgreSQL sink)' 'end to end (4 processors)' \
  'routing decisions (backlog)' '200/200 leads of 10 tenants' 'routing (lead event -> assigned)' \
  'routing (assigned -> WebSocket)'; do
  grep -qF "$row" "$work/out" || fail "the table lacks '$row': $(cat "$work/out")"
done
grep -qE 'audit,routing,assignment,campaigns: [1-9][0-9]* derived events besides' "$work/out" ||
  fail "no derived events in the e2e row: $(cat "$work/out")"
grep -qE '^sink: 2000 / 2000 events' "$work/err" || fail "no sink progress: $(cat "$work/err")"
/usr/bin/python3 - "$work/s.json" <<'PY' || fail "bench sink/e2e/routing JSON: $(cat "$work/s.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["pg_ceiling"]["events_per_s"] > 0
assert j["pg_ceiling"]["same_rows_as_audit"] is None
assert "ceiling" not in j
e = j["end_to_end"]
assert e["processors"] == "audit,routing,assignment,campaigns", e
assert e["derived_events"] > 0 and e["events_per_s"] > 0, e
assert e["records_per_s"] > e["events_per_s"], e
assert e["ratio_to_kafka_ceiling"] is None, e
# routing: every lead assigned once, counted, with its latencies
r = j["routing"]
b, st = r["backlog"], r["steady"]
assert b["leads"] == b["assigned"] == 200 and b["tenants"] == 10, b
assert b["decisions_per_s"] > 0 and b["decisions_per_s_from_start"] > 0, b
assert st["leads"] + st["agent_events"] == 100 and st["leads"] >= 80, st
assert st["assigned"] == st["leads"], st
assert st["assigned_at_once"] + st["assigned_after_waiting"] == st["assigned"], st
assert st["feed_latency_ms"]["received"] == st["assigned"], st
d = st["decision_latency_ms"]
assert 0 <= d["p50"] <= d["p99"] <= d["p999"] <= d["max"], d
f = st["feed_latency_ms"]
assert 0 <= f["p50"] <= f["p99"] <= f["max"], f
PY

echo "bench: all checks passed"
