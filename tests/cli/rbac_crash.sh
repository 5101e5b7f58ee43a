#!/usr/bin/env bash
# Crash test of the rbac processor (processors/rbac) through SIGKILLs:
# `run --processors rbac` while 4,000 role.granted / role.revoked events
# (tests/cli/gen_roles.sh: 3 tenants, 30 users each, the four roles) are
# imported in 4 chunks fed slowly; during the first 3 the worker is
# SIGKILLed at random moments (at least 2 times) and restarted at once.
# Then:
#  - rbac.user_roles holds exactly the state the events leave (per tenant,
#    user and role: granted or revoked by the last event about it);
#  - rbac.tenants counted every grant and revocation once (its counts are
#    sums: an event applied twice or lost shows);
#  - every tenant got its default roles and role_permissions;
#  - the processor's offsets are at the end of every partition.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=rbac CHUNKS=4 PER_CHUNK=1000 MIN_KILLS=2 MAX_KILLS=4
KILL_SECONDS=90 GEN_PREFIX=RBCR GEN_TENANTS=acme,globex,initech
TOTAL=$((CHUNKS * PER_CHUNK))
# the chunks are role events
gen() { bash "$(dirname "${BASH_SOURCE[0]}")/gen_roles.sh" "$@"; }
crash_status() {
  echo "$(q 'SELECT coalesce(sum(grants + revocations), 0) FROM rbac.tenants') role events applied"
}

start_up --processors none --partitions 4
crash_run

# ---- the surviving worker applies everything ---------------------------------
t_wait=$SECONDS
while [ $((SECONDS - t_wait)) -lt 60 ]; do
  kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
  [ "$(q 'SELECT coalesce(sum(grants + revocations), 0) FROM rbac.tenants' 2>/dev/null || echo 0)" -ge "$TOTAL" ] && break
  sleep 0.5
done

# ---- each event once, the state the log says ---------------------------------
gen -n "$TOTAL" -p RBCR -t acme,globex,initech -x >"$work/expect"
grep -v '^#' "$work/expect" >"$work/state.want"
q "SELECT tenant_id || ' ' || user_id || ' ' || role || ' ' || CASE WHEN active THEN 't' ELSE 'f' END FROM rbac.user_roles WHERE team_id = ''" |
  LC_ALL=C sort >"$work/state.db"
cmp -s "$work/state.want" "$work/state.db" ||
  fail "rbac.user_roles differs from the events: $(diff "$work/state.want" "$work/state.db" | head -6)"
sed -n 's/^#//p' "$work/expect" >"$work/counts.want"
q "SELECT tenant_id || ' ' || grants || ' ' || revocations FROM rbac.tenants" | LC_ALL=C sort >"$work/counts.db"
cmp -s "$work/counts.want" "$work/counts.db" ||
  fail "rbac.tenants counted other than once: want $(tr '\n' ';' <"$work/counts.want") got $(tr '\n' ';' <"$work/counts.db")"
[ "$(q "SELECT count(DISTINCT tenant_id) || ' ' || count(*) FROM rbac.roles")" = "3 12" ] ||
  fail "default roles: $(q "SELECT count(DISTINCT tenant_id) || ' ' || count(*) FROM rbac.roles")"
perms=$(q "SELECT count(*) FROM rbac.role_permissions WHERE tenant_id = 'acme'")
[ "$perms" -gt 30 ] && [ "$(q "SELECT count(*) FROM rbac.role_permissions")" = $((3 * perms)) ] ||
  fail "default role_permissions: $(q "SELECT tenant_id || ':' || count(*) FROM rbac.role_permissions GROUP BY 1")"
offsets_at_end switchboard.rbac 4 sb.compliance sb.tenants

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "rbac_crash: $kills kills, $accepted role events each applied once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "rbac_crash: all checks passed"
