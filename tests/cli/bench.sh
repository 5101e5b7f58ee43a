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
for row in 'produce (librdkafka producer)' 'ceiling (bare consumer)' 'end to end (audit' \
  'replay (audit' 'HTTP ingest, batched' 'HTTP ingest, single' 'freshness (202' 'engine memory'; do
  grep -qF "$row" "$work/out" || fail "the table lacks '$row': $(cat "$work/out")"
done
/usr/bin/python3 - "$work/b.json" <<'PY' || fail "bench JSON: $(cat "$work/b.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["run"]["events"] == 3000
for stage, key in [("produce", "events_per_s"), ("ceiling", "events_per_s"),
                   ("end_to_end", "events_per_s"), ("replay", "events_per_s"),
                   ("http_ingest", "batched_events_per_s"),
                   ("http_ingest", "single_events_per_s"), ("freshness", "p99_ms")]:
    assert j[stage][key] > 0, (stage, key)
assert j["freshness"]["received"] == j["freshness"]["sent"] == 500
assert j["end_to_end"]["engine_peak_rss_bytes"] > 0
assert j["machine"]["cores"] >= 1
PY
ls "$work/d" | grep -q bench- && fail "the data directory was not removed"
echo "bench: all checks passed"
