#!/usr/bin/env bash
# Crash test of the routing processor: `run --processors audit,routing`
# SIGKILLed at random moments while agents, calls, leads and replies
# (tests/cli/gen_agents_leads.sh) are imported in chunks. Then:
#  - the log holds every event once, and routing's derived events once
#    each: one lead.engaged per call.ended and message.inbound naming a lead
#    (no copy of a batch that did not commit), and audit verify passes;
#  - keyed state was neither lost nor counted twice: every lead was scored
#    for the first time (no previous_score) exactly once, and each lead's
#    row in routing.lead_scores holds the score of its last lead.scored in
#    the log; decay timers fired (lead.scored with no lead event as cause);
#  - the agent board is what the log says, whatever the partitions'
#    interleaving and the restarts: every agent's state_now is the later of
#    its own events and its calls' (computed here from the input), and
#    agent_days counts every call.ended once;
#  - the offsets are at the end.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit,routing CHUNKS=5 PER_CHUNK=400 MIN_KILLS=3 MAX_KILLS=4
KILL_SECONDS=120 GEN_PREFIX=RTCR GEN_TENANTS=acme,globex
TOTAL=$((CHUNKS * PER_CHUNK))
gen() { bash "$(dirname "${BASH_SOURCE[0]}")/gen_agents_leads.sh" "$@"; }
crash_status() {
  echo "$(q 'SELECT count(*) FROM routing.lead_scores') leads scored, $(q 'SELECT count(*) FROM routing.agents') agents"
}

start_up --processors none --partitions 4
crash_run

gen -n "$TOTAL" -p RTCR -t acme,globex -s 1769299200 -d 60 >"$work/all.ndjson"
engaging=$(grep -cE '"type":"(call\.ended|message\.inbound)"' "$work/all.ndjson")

# ---- the surviving worker finishes: the log stops growing ---------------------
crash_settle "SELECT (SELECT count(*) FROM audit.events) + (SELECT count(*) FROM routing.lead_scores)" \
  "SELECT count(*) FILTER (WHERE event_type <> 'lead.scored') FROM audit.events" $((accepted + engaging))

# ---- the log: every event once, each derived event once ----------------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM audit.events')" = 0 ] ||
  fail "audit: duplicates: $(q 'SELECT string_agg(event_type || $$ $$ || event_id, $$, $$) FROM (SELECT event_type, event_id FROM audit.events GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5) x')"
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.engaged'")" = "$engaging" ] ||
  fail "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.engaged'") lead.engaged in the log, want $engaging"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"

# ---- scores: state kept, rows as the log says ---------------------------------
for t in acme globex; do
  "$SB" audit export --data-dir "$dd" --tenant "$t" --pii sealed >>"$work/export.ndjson" 2>"$work/export.err" ||
    fail "audit export $t: $(cat "$work/export.err")"
done
q "SELECT tenant_id, subject, event_id FROM audit.events e WHERE event_type = 'lead.scored'
   AND kafka_offset = (SELECT max(kafka_offset) FROM audit.events f WHERE f.tenant_id = e.tenant_id
   AND f.subject = e.subject AND f.event_type = 'lead.scored') ORDER BY 1, 2" >"$work/last_scored"
q "SELECT tenant_id, lead_id, score FROM routing.lead_scores ORDER BY 1, 2" >"$work/rows"
/usr/bin/python3 - "$work/all.ndjson" "$work/export.ndjson" "$work/last_scored" "$work/rows" \
  "$(q 'SELECT tenant_id, agent_id, coalesce(state_now, $$-$$) FROM routing.agents ORDER BY 1, 2' | tr '\n' ';')" \
  "$(q 'SELECT tenant_id, agent_id, sum(calls) FROM routing.agent_days GROUP BY 1, 2 ORDER BY 1, 2' | tr '\n' ';')" \
  >"$work/check.out" 2>&1 <<'EOF' || fail "$(cat "$work/check.out")"
import json, sys
inp, exp, last, rows, board, days = sys.argv[1:7]
errors = []
evs = [json.loads(l) for l in open(inp)]
scored = {}  # (tenant, lead) -> [events]
byid = {}
for l in open(exp):
    e = json.loads(l)
    byid[e["id"]] = e
    if e["type"] == "lead.scored":
        scored.setdefault((e["tenantid"], e["subject"]), []).append(e)
leads = {(e["tenantid"], e["subject"]) for e in evs if e["type"].startswith("lead.")}
leads |= {(e["tenantid"], e["data"]["lead_id"]) for e in evs if "lead_id" in e["data"]}
if set(scored) != leads:
    errors.append("leads scored %d, leads in the input %d" % (len(scored), len(leads)))
firsts = sum(1 for k, v in scored.items() for e in v if e["data"].get("previous_score") is None)
if firsts != len(scored):
    errors.append("%d first scores for %d leads: keyed state lost" % (firsts, len(scored)))
timers = sum(1 for v in scored.values() for e in v if "causationid" not in e)
if timers == 0:
    errors.append("no score moved by a timer (decay)")
want = {}
for l in open(last):
    t, s, i = l.rstrip("\n").split("|")
    want[(t, s)] = int(byid[i]["data"]["score"])
got = {}
for l in open(rows):
    t, s, sc = l.rstrip("\n").split("|")
    got[(t, s)] = int(sc)
for k in sorted(set(want) | set(got)):
    if want.get(k) != got.get(k):
        errors.append("lead %s: row %s, last lead.scored %s" % (k, got.get(k), want.get(k)))
        break
# the board: the later of the agent's own events and its calls'
st = {}
for e in evs:
    d, a = e["data"], None
    key = (e["time"], e["id"])
    if e["type"].startswith("agent."):
        a = (e["tenantid"], e["subject"])
        s = {"agent.logged_in": "available", "agent.logged_out": "offline"}.get(e["type"], d.get("state"))
        r = st.setdefault(a, {"agent": None, "call": None})
        if r["agent"] is None or key > r["agent"][0]:
            r["agent"] = (key, s)
    elif e["type"].startswith("call.") and "agent_id" in d:
        a = (e["tenantid"], d["agent_id"])
        s = {"call.offered": "ringing", "call.connected": "on_call", "call.ended": "wrapup",
             "call.dispositioned": "done"}[e["type"]]
        r = st.setdefault(a, {"agent": None, "call": None})
        if r["call"] is None or key > r["call"][0]:
            r["call"] = (key, s)
def now(r):
    ag, ca = r["agent"], r["call"]
    if ca is not None and (ag is None or ca[0][0] > ag[0][0]):
        if ca[1] != "done": return ca[1]
        return ag[1] if ag and ag[1] in ("offline", "paused") else "available"
    return ag[1] if ag else "-"
wb = {(t, a): now(r) for (t, a), r in st.items()}
gb = {}
for l in filter(None, board.split(";")):
    t, a, s = l.split("|")
    gb[(t, a)] = s
if wb != gb:
    errors.append("board: %s" % sorted(set(wb.items()) ^ set(gb.items()))[:4])
wd = {}
for e in evs:
    if e["type"] == "call.ended":
        k = (e["tenantid"], e["data"]["agent_id"])
        wd[k] = wd.get(k, 0) + 1
gd = {}
for l in filter(None, days.split(";")):
    t, a, n = l.split("|")
    gd[(t, a)] = int(n)
if wd != gd:
    errors.append("agent_days: %s, want %s" % (gd, wd))
if errors:
    print("; ".join(errors)); sys.exit(1)
print("%d leads, %d lead.scored (%d by timers), %d agents" % (len(scored), sum(map(len, scored.values())), timers, len(gb)))
EOF
summary=$(cat "$work/check.out")

offsets_at_end switchboard.routing 4 sb.leads sb.agents sb.calls sb.messages sb.tenants
offsets_at_end switchboard.audit 4 sb.leads sb.calls sb.agents sb.messages

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "routing_crash: $kills kills, $accepted events, $summary, each once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "routing_crash: all checks passed"
