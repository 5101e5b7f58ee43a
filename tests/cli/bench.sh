#!/usr/bin/env bash
# switchboard bench, small: every stage runs, checks its records and lands in
# the table and the JSON; bad options are refused in one line.
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$work"' EXIT

expect_error 2 "--stages: unknown stage 'warp'" "$SB" bench --stages warp --data-dir "$work/d"
expect_error 2 "--events must be a whole number from 1000" "$SB" bench --events 5 --data-dir "$work/d"

"$SB" bench --events 3000 --http-events 2000 --fresh-rate 500 --fresh-seconds 1 \
  --json "$work/b.json" --data-dir "$work/d" >"$work/out" 2>"$work/err" ||
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
PY
ls "$work/d" | grep -q bench- && fail "the data directory was not removed"

# the sink alone: no Kafka stage but the records it stands on; its table
# is made and dropped in the run, and no e2e means no comparison (null) and no ratio
"$SB" bench --events 2000 --stages sink --json "$work/s.json" \
  --data-dir "$work/s" >"$work/out" 2>"$work/err" || fail "bench --stages sink failed: $(tail -5 "$work/err")"
grep -qF 'ceiling (PostgreSQL sink)' "$work/out" || fail "no sink row: $(cat "$work/out")"
grep -qE '^sink: 2000 / 2000 events' "$work/err" || fail "no sink progress: $(cat "$work/err")"
/usr/bin/python3 - "$work/s.json" <<'PY' || fail "bench sink JSON: $(cat "$work/s.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["pg_ceiling"]["events_per_s"] > 0
assert j["pg_ceiling"]["same_rows_as_audit"] is None
assert "end_to_end" not in j and "ceiling" not in j
PY
echo "bench: all checks passed"
