#!/usr/bin/env bash
# Crash test of the gamification processor through SIGKILLs: `run
# --processors gamification` with small batches, while 2,400 events
# (tests/cli/gen_gamification.py: team memberships, calls ended, answered
# and dispositioned, dispositions changed, leads converted, messages
# answered; two tenants, twelve agents, on every partition) are imported in
# chunks; the worker is SIGKILLed at random moments and restarted at once
# (tests/cli/crash_lib.sh). Every award goes through gamification.input to
# the agent's partition and back as points.*, so a kill can land between
# any two of those steps. Then:
#  - every agent's balance is what gen_gamification.py computes on its own
#    (the last disposition of each call counts, the one before reversed),
#    and every team's;
#  - balance = sum(ledger) for every agent and every team;
#  - no (rule, source event) paid twice, nor reversed twice;
#  - points.awarded and badge.awarded in Kafka: exactly one id per ledger
#    award and per badge row (a copy of an uncommitted batch may repeat an
#    id, never add one: no decision was made twice);
#  - the offsets are at the end of every partition;
#  - `replay --processor gamification --from earliest` rebuilds the same
#    ledger, balances, team balances and badges.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
GENG="/usr/bin/python3 $(dirname "$0")/gen_gamification.py"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=gamification CHUNKS=4 PER_CHUNK=600 MIN_KILLS=2 MAX_KILLS=2
KILL_SECONDS=60
TOTAL=$((CHUNKS * PER_CHUNK))
crash_status() {
  echo "$(q 'SELECT count(*) FROM gamification.ledger') ledger rows"
}
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    $GENG events 200 $((c * PER_CHUNK + p * 200))
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}

# a kill lands while the worker writes: after it got its partitions, once
# it committed something more (bounded), then crash_lib's random delay
rows() { q 'SELECT count(*) FROM gamification.ledger' 2>/dev/null || echo 0; }
eval "lib_$(declare -f wait_assigned)"
wait_assigned() {
  local before deadline=$((SECONDS + 15))
  before=$(rows)
  lib_wait_assigned "$@"
  while [ $SECONDS -lt $deadline ] && [ "$(rows)" -le "$before" ]; do sleep 0.1; done
}

start_up --processors none --partitions 4
crash_run

$GENG expect $TOTAL >"$work/expect" || fail "the generator: $(cat "$work/expect")"
want=$(awk '$1 == "agent" { s += $4 } END { print s }' "$work/expect")
crash_settle 'SELECT count(*) FROM gamification.ledger' \
  'SELECT coalesce(sum(balance), 0) FROM gamification.balances' "$want" 90

# ---- the sums -----------------------------------------------------------------
{
  q "SELECT 'agent ' || tenant_id || ' ' || agent_id || ' ' || balance FROM gamification.balances"
  q "SELECT 'team ' || tenant_id || ' ' || team_id || ' ' || balance FROM gamification.team_balances"
} | LC_ALL=C sort >"$work/got"
LC_ALL=C sort "$work/expect" >"$work/want"
cmp -s "$work/want" "$work/got" ||
  fail "balances differ from the generator's: $(diff "$work/want" "$work/got" | head -6 | tr '\n' ' ')"
bad=$(q "SELECT count(*) FROM gamification.balances b WHERE balance <> (SELECT coalesce(sum(points), 0)
  FROM gamification.ledger l WHERE l.tenant_id = b.tenant_id AND l.agent_id = b.agent_id)")
[ "$bad" = 0 ] || fail "$bad agents whose balance is not the sum of their ledger"
bad=$(q "SELECT count(*) FROM gamification.team_balances b WHERE balance <> (SELECT coalesce(sum(points), 0)
  FROM gamification.ledger l WHERE l.tenant_id = b.tenant_id AND l.team_id = b.team_id)")
[ "$bad" = 0 ] || fail "$bad teams whose balance is not the sum of their ledger entries"
twice=$(q "SELECT count(*) FROM (SELECT 1 FROM gamification.ledger GROUP BY tenant_id, agent_id, kind,
  rule_id, source_event_id HAVING count(*) > 1) x")
[ "$twice" = 0 ] || fail "$twice (rule, source event) paid or reversed twice"
neg=$(q "SELECT count(*) FROM gamification.balances WHERE balance < 0")
[ "$neg" = 0 ] || fail "$neg balances below zero"
reversals=$(q "SELECT count(*) FROM gamification.ledger WHERE kind = 'reversal'")
[ "$reversals" -gt 20 ] || fail "only $reversals reversals: the test would prove little"

# ---- one decision, one event ----------------------------------------------------
timeout 30 kcat -C -b "$kafka" -t sb.gamification -e -q -f '%h\n' 2>/dev/null >"$work/headers"
for t in points.awarded:"kind = 'award'":ledger badge.awarded:true:badges; do
  type=${t%%:*} rest=${t#*:} where=${rest%%:*} table=${rest#*:}
  ids=$(grep "sb-type=$type" "$work/headers" | sed 's/.*sb-event-id=\([0-9A-Z]*\).*/\1/' | sort -u | wc -l)
  rows=$(q "SELECT count(*) FROM gamification.$table WHERE $where")
  [ "$ids" = "$rows" ] || fail "$type: $ids ids in Kafka, $rows rows in gamification.$table"
done
offsets_at_end switchboard.gamification 4 sb.calls sb.leads sb.messages sb.gamification

# ---- one uninterrupted run decides the same ----------------------------------------
snap() {
  q "SELECT * FROM gamification.ledger ORDER BY 1, 2" >"$work/$1.ledger"
  q "SELECT tenant_id, agent_id, balance, earned, reversed, redeemed, entries
     FROM gamification.balances ORDER BY 1, 2" >"$work/$1.balances"
  q "SELECT tenant_id, team_id, balance, entries FROM gamification.team_balances ORDER BY 1, 2" >"$work/$1.teams"
  q "SELECT * FROM gamification.badges ORDER BY 1, 2, 3, 4" >"$work/$1.badges"
}
snap live
crash_stop
rrc=0
timeout 120 "$SB" replay --processor gamification --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
snap rebuilt
for t in ledger balances teams badges; do
  cmp -s "$work/live.$t" "$work/rebuilt.$t" ||
    fail "the rebuilt $t differs: $(diff "$work/live.$t" "$work/rebuilt.$t" | head -4)"
done

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "gamification_crash: $kills kills, $accepted events, $(wc -l <"$work/live.ledger") ledger rows ($reversals reversals), balances as computed, each award once; a replay rebuilds the same; $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "gamification_crash: all checks passed"
