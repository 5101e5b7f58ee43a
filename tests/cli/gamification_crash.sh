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
#  - two redemptions posted together from two devices, together past an
#    agent's balance: exactly one is approved, and the balance is what the
#    ledger says, never negative; a rejected one releases its points;
#  - every leaderboard row is the sum of its ledger entries (periods cut by
#    PostgreSQL's calendar), ranks 1..n on every board, and the replay
#    ranks the same;
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
# the leaderboards: every board row is the ledger's awards and reversals
# (no redemptions) of its agent, span, period and scope, the periods cut
# here by PostgreSQL's calendar (ISO weeks, months) from the ledger's day
bad=$(q "WITH l AS (SELECT tenant_id, agent_id, team_id, day, points FROM gamification.ledger
    WHERE kind <> 'redemption'),
  p AS (SELECT tenant_id, agent_id, team_id, s.span, s.period, points FROM l,
    LATERAL (VALUES ('day', day::text), ('week', date_trunc('week', day)::date::text),
      ('month', date_trunc('month', day)::date::text), ('all', '1970-01-01')) s(span, period)),
  want AS (SELECT tenant_id, span, period, 'tenant' AS scope, '' AS scope_id, agent_id, sum(points) AS points
      FROM p GROUP BY 1, 2, 3, 6
    UNION ALL SELECT tenant_id, span, period, 'team', team_id, agent_id, sum(points)
      FROM p WHERE team_id IS NOT NULL GROUP BY 1, 2, 3, 5, 6),
  got AS (SELECT tenant_id, span, period, scope, scope_id, agent_id, points FROM gamification.board)
  SELECT count(*) FROM ((SELECT * FROM want EXCEPT SELECT * FROM got)
    UNION ALL (SELECT * FROM got EXCEPT SELECT * FROM want)) x")
[ "$bad" = 0 ] || fail "$bad leaderboard rows are not the sum of their ledger entries"
gaps=$(q "SELECT count(*) FROM (SELECT tenant_id, span, period, scope, scope_id, max(rank) AS m, count(*) AS n,
  min(of_agents) AS o FROM gamification.leaderboard GROUP BY 1, 2, 3, 4, 5) x WHERE m <> n OR o <> n")
[ "$gaps" = 0 ] || fail "$gaps leaderboards whose ranks are not 1..n"

# ---- two redemptions from two devices, together past the balance ------------------
# agent A's balance is B; rewards "big" (2B/3: either fits, not both) and
# "small" (1); requests q1 and q2 for big and q3 for small are imported
# together (three partitions); then both big ones are approved and the
# small one rejected. Exactly one of q1 and q2 is held and approved, the
# other refused (insufficient), q3 rejected and released.
read -r _ T A B < <(head -1 "$work/expect")
cost=$((B * 2 / 3))
[ "$B" -ge 6 ] || fail "agent $A has only $B points: pick another"
n=0
ev() { # TYPE SUBJECT DATA
  n=$((n + 1))
  printf '{"specversion":"1.0","id":"01GAMR%020d","type":"%s","source":"/test","subject":"%s","time":"2026-11-20T00:00:%02dZ","tenantid":"%s","data":%s}\n' \
    "$n" "$1" "$2" "$n" "$T" "$3"
}
wait_for() { # SQL WANT WHAT
  local i
  for i in $(seq 1 200); do
    [ "$(q "$1" 2>/dev/null)" = "$2" ] && return 0
    kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
    sleep 0.1
  done
  fail "$3: $(q "$1") after 20 s, want $2"
}
imp() { "$SB" import - --data-dir "$dd" >>"$work/redeem.out" 2>>"$work/redeem.log" || fail "import: $(tail -2 "$work/redeem.log")"; }
{
  ev reward.created big "{\"reward_id\":\"big\",\"name\":\"Big\",\"points_cost\":$cost}"
  ev reward.created small '{"reward_id":"small","name":"Small","points_cost":1}'
} | imp
wait_for "SELECT count(*) FROM gamification.rewards" 2 "the catalogue"
sleep 1 # the global table is folded between batches
{
  for r in q1:big:$cost q2:big:$cost q3:small:1; do
    IFS=: read -r id rw c <<<"$r"
    ev reward.redemption_requested "$id" "{\"redemption_id\":\"$id\",\"agent_id\":\"$A\",\"reward_id\":\"$rw\",\"points_cost\":$c}"
  done
} | imp
wait_for "SELECT count(*) FROM gamification.redemption_status WHERE status IN ('held', 'insufficient')" 3 "redemptions settled"
got=$(q "SELECT string_agg(status, ' ' ORDER BY status) FROM gamification.redemption_status WHERE redemption_id IN ('q1', 'q2')")
[ "$got" = "held insufficient" ] || fail "q1 and q2: '$got', want one held and one insufficient"
{
  ev reward.redemption_decided q1 '{"redemption_id":"q1","decision":"approved"}'
  ev reward.redemption_decided q2 '{"redemption_id":"q2","decision":"approved"}'
  ev reward.redemption_decided q3 '{"redemption_id":"q3","decision":"rejected","reason":"test"}'
} | imp
wait_for "SELECT count(*) FROM gamification.redemption_status WHERE status IN ('approved', 'rejected')" 2 "redemptions decided"
got=$(q "SELECT string_agg(redemption_id || '=' || status, ' ' ORDER BY redemption_id) FROM gamification.redemption_status")
case "$got" in
"q1=approved q2=insufficient q3=rejected" | "q1=insufficient q2=approved q3=rejected") ;;
*) fail "redemptions: '$got', want exactly one of q1 and q2 approved, q3 rejected" ;;
esac
wait_for "SELECT balance FROM gamification.balances WHERE tenant_id = '$T' AND agent_id = '$A'" $((B - cost)) "$A's balance after one approval"
bad=$(q "SELECT count(*) FROM gamification.balances b WHERE balance < 0 OR balance <> (SELECT sum(points)
  FROM gamification.ledger l WHERE l.tenant_id = b.tenant_id AND l.agent_id = b.agent_id)")
[ "$bad" = 0 ] || fail "after the redemptions: $bad balances negative or not the sum of their ledger"

# ---- one decision, one event ----------------------------------------------------
timeout 30 kcat -C -b "$kafka" -t sb.gamification -e -q -f '%h\n' 2>/dev/null >"$work/headers"
for t in points.awarded:"kind = 'award'":ledger badge.awarded:true:badges; do
  type=${t%%:*} rest=${t#*:} where=${rest%%:*} table=${rest#*:}
  ids=$(grep "ce_type=$type" "$work/headers" | sed 's/.*ce_id=\([0-9A-Z]*\).*/\1/' | sort -u | wc -l)
  rows=$(q "SELECT count(*) FROM gamification.$table WHERE $where")
  [ "$ids" = "$rows" ] || fail "$type: $ids ids in Kafka, $rows rows in gamification.$table"
done
prog="SELECT sum(next_offset) FROM sb.consumer_offsets WHERE consumer_group = 'switchboard.gamification'"
crash_settle "$prog" "$prog" 0 30
offsets_at_end switchboard.gamification 4 sb.calls sb.leads sb.messages sb.gamification sb.tenants

# ---- one uninterrupted run decides the same ----------------------------------------
snap() {
  q "SELECT * FROM gamification.ledger ORDER BY 1, 2" >"$work/$1.ledger"
  q "SELECT tenant_id, agent_id, balance, earned, reversed, redeemed, entries
     FROM gamification.balances ORDER BY 1, 2" >"$work/$1.balances"
  q "SELECT tenant_id, team_id, balance, entries FROM gamification.team_balances ORDER BY 1, 2" >"$work/$1.teams"
  q "SELECT * FROM gamification.badges ORDER BY 1, 2, 3, 4" >"$work/$1.badges"
  q "SELECT * FROM gamification.leaderboard ORDER BY 1, 2, 3, 4, 5, 6" >"$work/$1.board"
}
snap live
crash_stop
rrc=0
timeout 120 "$SB" replay --processor gamification --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
snap rebuilt
for t in ledger balances teams badges board; do
  cmp -s "$work/live.$t" "$work/rebuilt.$t" ||
    fail "the rebuilt $t differs: $(diff "$work/live.$t" "$work/rebuilt.$t" | head -4)"
done

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "gamification_crash: $kills kills, $accepted events, $(wc -l <"$work/live.ledger") ledger rows ($reversals reversals), balances as computed, each award once, one of two redemptions approved; a replay rebuilds the same; $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "gamification_crash: all checks passed"
