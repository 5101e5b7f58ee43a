#!/usr/bin/env bash
# Crash test of the compliance processor: `run --processors audit,compliance`
# SIGKILLed at random moments while consent and do-not-call events
# (tests/cli/gen_consent.sh: consents given and withdrawn, some
# withdrawals out of order, SMS opt-outs, DNC flags) are imported in
# chunks. Then:
#  - every consent event is in compliance.consent_events once, and every
#    (subject, purpose, channel) row of compliance.consent is the latest of
#    its events by occurred_at (keyed state neither lost nor reverted by a
#    restart: the out-of-order withdrawals never win);
#  - every withdrawal, opt-out and DNC flag is in compliance.opt_outs once,
#    honoured, and its decision consent.opt_out_honoured is in the log once
#    (audit.events: no copy of a batch that did not commit);
#  - the suppressions are exactly those the events name (HMACs, subjects);
#  - the offsets are at the end and audit verify passes;
#  - `replay --processor compliance --from earliest` rebuilds the same
#    projection, honoured times included.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit,compliance CHUNKS=6 PER_CHUNK=600 MIN_KILLS=3 MAX_KILLS=5
KILL_SECONDS=120 GEN_PREFIX=CPCR GEN_TENANTS=acme,globex
TOTAL=$((CHUNKS * PER_CHUNK))
# the chunks are consent events, not gen_events.sh's mix
gen() { bash "$(dirname "${BASH_SOURCE[0]}")/gen_consent.sh" "$@"; }
crash_status() {
  echo "$(q 'SELECT count(*) FROM compliance.consent_events') consent events, $(q 'SELECT count(*) FROM compliance.opt_outs') opt-outs"
}

start_up --processors none --partitions 4
crash_run

all=$(gen -n "$TOTAL" -p CPCR -t acme,globex -s 1769299200 -d 60)
consents=$(grep -c '"type":"consent\.' <<<"$all")
revocations=$(grep -cE '"type":"(consent\.withdrawn|message\.opt_out|lead\.dnc_flagged)"' <<<"$all")
dncs=$(grep -c '"type":"lead.dnc_flagged"' <<<"$all")
optouts=$(grep -c '"type":"message.opt_out"' <<<"$all")

# ---- the surviving worker finishes: every decision read back ------------------
crash_settle "SELECT (SELECT count(*) FROM audit.events) + (SELECT count(*) FROM compliance.opt_outs)" \
  'SELECT count(*) FROM audit.events' $((accepted + revocations))

# ---- the log: every event once, each decision once ----------------------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM audit.events')" = 0 ] ||
  fail "audit: duplicates: $(q 'SELECT string_agg(event_type || $$ $$ || event_id, $$, $$) FROM (SELECT event_type, event_id FROM audit.events GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5) x')"
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'consent.opt_out_honoured'")" = "$revocations" ] ||
  fail "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'consent.opt_out_honoured'") decisions in the log, want $revocations"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"

# ---- the projection ----------------------------------------------------------
[ "$(q 'SELECT count(*) FROM compliance.consent_events')" = "$consents" ] ||
  fail "consent_events holds $(q 'SELECT count(*) FROM compliance.consent_events'), want $consents"
[ "$(q 'SELECT count(*) FROM compliance.consent')" = "$(q 'SELECT count(*) FROM (SELECT DISTINCT tenant_id, subject_id, purpose, channel FROM compliance.consent_events) k')" ] ||
  fail "compliance.consent does not hold one row per key"
stale=$(q "SELECT count(*) FROM compliance.consent c WHERE c.event_id <> (
  SELECT e.event_id FROM compliance.consent_events e
  WHERE (e.tenant_id, e.subject_id, e.purpose, e.channel) = (c.tenant_id, c.subject_id, c.purpose, c.channel)
  ORDER BY e.occurred_at DESC, e.event_id DESC LIMIT 1)")
[ "$stale" = 0 ] || fail "$stale consent rows are not the latest of their events"
[ "$(q 'SELECT count(*) FROM compliance.opt_outs')" = "$revocations" ] ||
  fail "opt_outs holds $(q 'SELECT count(*) FROM compliance.opt_outs'), want $revocations"
[ "$(q 'SELECT count(*) FROM compliance.opt_outs WHERE honoured_at IS NULL OR business_days IS NULL OR late IS NULL')" = 0 ] ||
  fail "opt-outs not honoured: $(q 'SELECT string_agg(event_id, $$ $$) FROM compliance.opt_outs WHERE honoured_at IS NULL')"
# a DNC flag matches its phone, its e-mail and its lead; an opt-out its phone and lead
[ "$(q 'SELECT count(*) FROM compliance.suppression')" = $((dncs * 3 + optouts * 2)) ] ||
  fail "suppression holds $(q 'SELECT count(*) FROM compliance.suppression'), want $((dncs * 3 + optouts * 2))"
[ "$(q "SELECT count(*) FROM compliance.suppression WHERE match <> 'subject' AND value !~ '^[0-9a-f]{64}$'")" = 0 ] ||
  fail "a suppression matches something other than an HMAC"

offsets_at_end switchboard.compliance 4 sb.compliance sb.messages sb.leads
offsets_at_end switchboard.audit 4 sb.compliance sb.messages sb.leads

# ---- a replay rebuilds the same projection, the first application's times -----
# included: the rebuild applies every opt-out again, later by its clock, and
# keeps the times of the decisions already in the log (MIN)
snap() {
  q "SELECT tenant_id, event_id, kind, subject_id, received_at, honoured_at, business_days, late
     FROM compliance.opt_outs ORDER BY 1, 2" >"$work/$1.optouts"
  q "SELECT * FROM compliance.consent ORDER BY 1, 2, 3, 4" >"$work/$1.consent"
  q "SELECT * FROM compliance.suppression ORDER BY 1, 2, 3" >"$work/$1.supp"
}
snap live
rrc=0
timeout 120 "$SB" replay --processor compliance --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
grep -q "swapped in as generation 2" "$work/replay.out" || fail "replay said: $(cat "$work/replay.out")"
snap rebuilt
for t in optouts consent supp; do
  cmp -s "$work/live.$t" "$work/rebuilt.$t" ||
    fail "the replayed compliance.$t differs: $(diff "$work/live.$t" "$work/rebuilt.$t" | head -4)"
done

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "compliance_crash: $kills kills, $accepted events, $revocations decisions, each once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "compliance_crash: all checks passed"
