#!/usr/bin/env bash
# A replay refuses to rebuild the audit log from a log that has lost its
# first records (issue 10, item 1): on the embedded broker with one
# partition a topic, big lead.created events (about 12 KiB each) are
# imported until sb.leads[0] no longer starts at offset 0 (the broker keeps
# about 5 MiB a partition); every event is audited meanwhile. Then
# `replay --processor audit --from earliest` exits 1 naming the partition
# and where it now starts, builds nothing, and the audit log keeps every row
# and verifies; sb.processors is unchanged.
. "$(dirname "$0")/lib.sh"
t_start=$SECONDS

# big_events FIRST COUNT: lead.created events numbered FIRST.., ~8 KiB of random text each
big_events() {
  python3 - "$1" "$2" <<'EOF'
import json, random, string, sys
first, count = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(first)  # random text: the producer compresses
def text(n):
    return "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(n))
for i in range(first, first + count):
    url = "https://example.com/landing/" + text(2000)
    print(json.dumps({
        "specversion": "1.0", "id": "01TR1M%020d" % i, "type": "lead.created",
        "source": "crm://acme/web", "subject": "lead-%d" % i,
        "time": "2026-03-01T00:00:00Z", "tenantid": "acme",
        "data": {"lead_source": "web_form", "landing_page_url": url[:2048],
                 "referrer_url": "https://example.org/" + text(2000),
                 "tags": [text(120) for k in range(32)]}},
        separators=(",", ":")))
EOF
}

# log_start: where sb.leads[0] starts now
log_start() {
  timeout 20 kcat -Q -b "$kafka" -t sb.leads:0:-2 2>/dev/null | sed -n 's/.* offset \([0-9]*\)$/\1/p'
}

start_up --partitions 1 --processors "$SB_PROCESSORS_NO_DERIVED"
sent=0 lo=0
while [ "$lo" -eq 0 ] && [ $sent -lt 3000 ]; do
  big_events $sent 600 >"$work/big.ndjson"
  "$SB" import "$work/big.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
    fail "import: $(cat "$work/import.out" "$work/import.err")"
  grep -qx 'accepted: 600, rejected: 0' "$work/import.out" || fail "import: $(cat "$work/import.out")"
  sent=$((sent + 600))
  # every event audited before the broker may drop it: wait for the rows
  n=0 deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    n=$(q 'SELECT count(*) FROM audit.events')
    [ "$n" -ge $sent ] && break
    sleep 0.3
  done
  [ "$n" -eq $sent ] || fail "audit.events holds $n rows, want $sent"
  lo=$(log_start)
  [ -n "$lo" ] || fail "kcat -Q gave no start offset for sb.leads[0]"
done
[ "$lo" -gt 0 ] || fail "sb.leads[0] still starts at 0 after $sent big events"
echo "replay_trimmed: sb.leads[0] starts at offset $lo after $sent events"
q "SELECT tenant_id, topic, kafka_partition, chain_seq, encode(hash, 'hex') FROM audit.events
   ORDER BY 1, 2, 3, 4" >"$work/rows.before"

rc=0
timeout 120 "$SB" replay --processor audit --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 1 ] || fail "replay of a trimmed log exited $rc, want 1: $(cat "$work/replay.out"; tail -2 "$work/replay.err")"
last=$(tail -1 "$work/replay.err")
for t in "switchboard replay: refusing to replay audit: " "sb.leads[0] now starts at offset $lo" \
  "deleted by retention" "must read it from offset 0" "the live projection is unchanged"; do
  grep -qF -- "$t" <<<"$last" || fail "replay's error lacks '$t': $last"
done
echo "replay_trimmed: refused as expected: $last"
[ "$(q "SELECT generation || ' ' || consumer_group FROM sb.processors WHERE name = 'audit'")" = \
  "1 switchboard.audit" ] || fail "sb.processors changed: $(q 'TABLE sb.processors')"
[ "$(q "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'audit_%'")" = 0 ] ||
  fail "a refused replay left schemas: $(q "SELECT string_agg(nspname, ',') FROM pg_namespace WHERE nspname LIKE 'audit_%'")"
q "SELECT tenant_id, topic, kafka_partition, chain_seq, encode(hash, 'hex') FROM audit.events
   ORDER BY 1, 2, 3, 4" >"$work/rows.after"
cmp -s "$work/rows.before" "$work/rows.after" || fail "the audit rows changed on a refused replay"
rc=0
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || rc=$?
[ $rc -eq 0 ] && grep -q "^audit verify: OK: $sent rows" "$work/verify.out" ||
  fail "audit verify after the refusal: $(cat "$work/verify.out")"
stop_up
echo "replay_trimmed: all checks passed ($((SECONDS - t_start)) s)"
