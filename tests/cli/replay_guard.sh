#!/usr/bin/env bash
# A replay never destroys the audit log (issue 10, item 1). On embedded
# defaults, with 20,001 events imported and audited:
#  - a live audit log that differs from what the log rebuilds (one payload
#    byte changed, its hash kept) is not swapped out: replay exits 1 naming
#    the row, the live log and sb.processors are unchanged;
#  - a normal replay swaps in a rebuild equal to the live log row for row,
#    and the old generation stays, renamed audit_gen_1, with all its rows,
#    which switchboard_app can neither write nor read;
#  - after `up` is stopped and started again, a replay either refuses (the
#    embedded broker came back empty) or rebuilds the same rows (it kept its
#    log): either way the audit log still holds every row and verifies;
#  - against a new incarnation of the log (a fresh embedded broker in front
#    of the same database, holding a few new events), replay refuses, says
#    why, and the audit log is untouched.
. "$(dirname "$0")/lib.sh"
t_start=$SECONDS
N=20001
dd2=$work/data2
pid2=
cleanup_extra() {
  if [ -n "$pid2" ]; then kill -TERM "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null; fi
  "$SB" postgres stop --data-dir "$dd2" >/dev/null 2>&1 || true
}

# wait_rows N SECONDS: until audit.events holds N rows (fails on more)
wait_rows() {
  local n=0 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    n=$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)
    [ "$n" -ge "$1" ] && break
    sleep 0.3
  done
  [ "$n" -eq "$1" ] || fail "audit.events holds $n rows after $2 s, want $1"
}

# verify_rows N: audit verify says OK with N rows
verify_rows() {
  local rc=0
  "$SB" audit verify --data-dir "${vdd:-$dd}" >"$work/verify.out" 2>"$work/verify.err" || rc=$?
  [ $rc -eq 0 ] || fail "audit verify exited $rc: $(cat "$work/verify.out" "$work/verify.err")"
  grep -q "^audit verify: OK: $1 rows" "$work/verify.out" ||
    fail "audit verify, want OK with $1 rows: $(cat "$work/verify.out")"
}

# replay [DATA DIR [ARGS]]: runs the replay of audit from earliest; rc in $rrc
replay() {
  rrc=0
  timeout 120 "$SB" replay --processor audit --from earliest --data-dir "${1:-$dd}" "${@:2}" \
    >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
  [ $rrc -ne 124 ] || fail "replay did not end within 120 s"
}

# refused TEXT...: the last replay exited 1 and its last line of stderr is
# the command's error, holding each TEXT ("A|B": A or B)
refused() {
  [ $rrc -eq 1 ] || fail "replay exited $rrc, want 1 (refused): $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
  local last
  last=$(tail -1 "$work/replay.err")
  case $last in "switchboard replay: "*) ;; *) fail "replay's last line is not its error: $last" ;; esac
  local t ok alt
  for t in "$@"; do
    ok=0
    IFS='|' read -r -a alts <<<"$t"
    for alt in "${alts[@]}"; do grep -qF -- "$alt" <<<"$last" && ok=1; done
    [ $ok -eq 1 ] || fail "replay's error lacks '$t': $last"
  done
  grep -q 'swapped in' "$work/replay.out" && fail "a refused replay says it swapped: $(cat "$work/replay.out")"
  echo "replay_guard: refused as expected: $last"
}

chain_q="SELECT tenant_id, topic, kafka_partition, chain_seq, kafka_offset, event_id,
  event_type, subject, occurred_at, md5(payload), encode(prev_hash, 'hex'), encode(hash, 'hex')
  FROM %s.events ORDER BY 1, 2, 3, 4"
heads_q="SELECT tenant_id, topic, kafka_partition, last_seq, encode(last_hash, 'hex')
  FROM %s.chain_heads ORDER BY 1, 2, 3"
snapshot() { # snapshot SCHEMA NAME
  # shellcheck disable=SC2059
  qsu "$(printf "$chain_q" "$1")" >"$work/$2.rows"
  # shellcheck disable=SC2059
  qsu "$(printf "$heads_q" "$1")" >"$work/$2.heads"
}
same() { # same NAME1 NAME2: the snapshots are equal
  cmp -s "$work/$1.rows" "$work/$2.rows" ||
    fail "audit rows $1 and $2 differ: $(diff "$work/$1.rows" "$work/$2.rows" | head -4)"
  cmp -s "$work/$1.heads" "$work/$2.heads" ||
    fail "chain heads $1 and $2 differ: $(diff "$work/$1.heads" "$work/$2.heads" | head -4)"
}
procs() { q "SELECT generation || ' ' || consumer_group FROM sb.processors WHERE name = 'audit'"; }

# ---- 20,001 events, audited -------------------------------------------------
start_up --processors audit
"$SB" generate --events $N --seed 7 >"$work/events.ndjson"
"$SB" import "$work/events.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.out" "$work/import.err")"
grep -qx "accepted: $N, rejected: 0" "$work/import.out" || fail "import: $(cat "$work/import.out")"
wait_rows $N 90
verify_rows $N
snapshot audit live1
[ "$(procs)" = "1 switchboard.audit" ] || fail "sb.processors before any replay: $(procs)"

# ---- a live log the log does not reproduce is kept ---------------------------
# one payload byte of a middle row, its hash kept: only a comparison of the
# rows' content catches it (verify does too, but replay must not swap)
read -r ttenant ttopic tpart tseq tid < <(q "SELECT tenant_id, topic, kafka_partition, chain_seq, event_id
  FROM audit.events ORDER BY tenant_id, topic, kafka_partition, chain_seq OFFSET 5000 LIMIT 1" | tr '|' ' ')
flip="UPDATE audit.events SET payload = set_byte(payload, 12, get_byte(payload, 12) # 1) WHERE event_id = '$tid'"
tamper "$flip"
snapshot audit tampered
replay
refused "tenant=$ttenant topic=$ttopic partition=$tpart seq=$tseq" "event_id=$tid" "unchanged"
snapshot audit after_refusal
same tampered after_refusal
[ "$(procs)" = "1 switchboard.audit" ] || fail "sb.processors after a refused replay: $(procs)"
tamper "$flip"
verify_rows $N

# ---- a normal replay: equal row for row, the old generation kept -------------
replay
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
grep -q "^replay: audit rebuilt from earliest: $N events in .*swapped in as generation 2$" "$work/replay.out" ||
  fail "replay said: $(cat "$work/replay.out")"
snapshot audit gen2
same live1 gen2
[ "$(procs)" = "2 switchboard.audit.g2" ] || fail "sb.processors after the replay: $(procs)"
snapshot audit_gen_1 old1
same live1 old1
verify_rows $N
# the old generation is out of the application role's reach
for sql in "INSERT INTO audit_gen_1.events SELECT * FROM audit.events LIMIT 1" \
  "UPDATE audit_gen_1.chain_heads SET last_seq = 0" "SELECT count(*) FROM audit_gen_1.events"; do
  out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "SET ROLE switchboard_app" -c "$sql" 2>&1) &&
    fail "switchboard_app was allowed: $sql"
  grep -q 'permission denied' <<<"$out" || fail "$sql as switchboard_app: $out"
done
qsu "SELECT count(*) FROM audit_gen_1.events" | grep -qx $N || fail "audit_gen_1 lost rows"

# ---- stop, start again, replay ---------------------------------------------
stop_up
start_up --processors audit
held=0
for t in sb.leads sb.calls sb.agents sb.messages sb.campaigns sb.compliance sb.gamification; do
  for p in $(seq 0 11); do
    hi=$(timeout 20 kcat -Q -b "$kafka" -t "$t:$p:-1" 2>/dev/null | sed -n 's/.* offset \([0-9]*\)$/\1/p')
    held=$((held + ${hi:-0}))
  done
done
replay
if [ "$held" -lt $N ]; then
  # the embedded broker forgot its log: nothing to rebuild from
  refused "not the one the live projection was built from|the rebuild has no such row" "unchanged"
  snapshot audit restarted
  same live1 restarted
  [ "$(procs)" = "2 switchboard.audit.g2" ] || fail "sb.processors after a refused replay: $(procs)"
  echo "replay_guard: the restarted broker held $held records; replay refused"
else
  [ $rrc -eq 0 ] || fail "replay after the restart, on a log of $held records, exited $rrc: $(tail -1 "$work/replay.err")"
  snapshot audit restarted
  same live1 restarted
  snapshot audit_gen_2 old2
  same live1 old2
  echo "replay_guard: the restarted broker kept its log ($held records); replay rebuilt the same rows"
fi
verify_rows $N
gen_now=$(q "SELECT generation FROM sb.processors WHERE name = 'audit'")
stop_up

# ---- a new incarnation of the log in front of the same database ------------
"$SB" postgres start --data-dir "$dd" >/dev/null 2>"$work/pg.err" || fail "postgres start: $(cat "$work/pg.err")"
db=$("$SB" postgres url --data-dir "$dd")
"$SB" up --data-dir "$dd2" --database-url "$db" --processors none >"$work/up2.out" 2>"$work/up2.err" &
pid2=$!
for _ in $(seq 1 600); do
  grep -q '^postgres: ' "$work/up2.out" && break
  kill -0 "$pid2" 2>/dev/null || fail "the second up exited early: $(tail -3 "$work/up2.err")"
  sleep 0.1
done
grep -q '^kafka: ' "$work/up2.out" || fail "the second up printed no kafka line"
vdd=$dd2
"$SB" generate --events 300 --seed 8 | "$SB" import - --data-dir "$dd2" >"$work/import2.out" 2>"$work/import2.err" ||
  fail "import into the new log: $(cat "$work/import2.out" "$work/import2.err")"
# the replay's DDL is the database owner's: a data directory with no private
# server of its own is given the owner's URL
replay "$dd2" --database-url "$(su_url)"
refused "not the one the live projection was built from|the rebuild has no such row" "unchanged"
snapshot audit incarnation
same live1 incarnation
[ "$(q "SELECT generation FROM sb.processors WHERE name = 'audit'")" = "$gen_now" ] ||
  fail "the generation moved on a refused replay"
qsu "SELECT count(*) FROM audit_gen_1.events" | grep -qx $N || fail "audit_gen_1 lost rows"
verify_rows $N
kill -TERM "$pid2"
wait "$pid2" || fail "the second up exited non-zero"
pid2=
"$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
echo "replay_guard: all checks passed ($((SECONDS - t_start)) s)"
