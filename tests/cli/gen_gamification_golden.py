#!/usr/bin/python3
"""Writes the input.ndjson of the gamification golden cases (run from
tests/golden/gamification; the expected files are reviewed by hand, SB_GOLDEN_UPDATE=1 rewrites
them from a run)."""
import json, os

class Case:
    def __init__(self, name, letter, comment):
        self.name, self.letter, self.n, self.lines = name, letter, 0, ["# " + c for c in comment]
    def ev(self, typ, subject, time, data, tenant="acme", eid=None):
        if eid is None:
            self.n += 1
            eid = "01KGSGAM%s%s" % (self.letter, "%017d" % self.n)
        self.lines.append(json.dumps({"specversion": "1.0", "id": eid, "type": typ,
            "source": "/golden", "subject": subject, "time": time,
            "tenantid": tenant, "data": data}, separators=(",", ":")))
        return eid
    def write(self):
        os.makedirs(self.name + "/expected", exist_ok=True)
        with open(self.name + "/input.ndjson", "w") as f:
            f.write("\n".join(self.lines) + "\n")

def tenant(c, zone="America/New_York", t="acme"):
    c.ev("tenant.created", t, "2026-10-01T00:00:00Z",
         {"display_name": t, "time_zone": zone}, tenant=t)

def rules(c, ver, r, time="2026-10-01T00:01:00Z", t="acme"):
    c.ev("gamification.rules_published", t, time,
         {"rules_version": ver, "rules_json": json.dumps(r)}, tenant=t)

T = "acme"  # the tenant of the part being written

def ended(c, call, agent, time, talk=60000):
    return c.ev("call.ended", call, time, {"call_id": call, "agent_id": agent, "talk_ms": talk}, tenant=T)

def dispo(c, call, agent, time, d, eid=None):
    return c.ev("call.dispositioned", call, time,
                {"call_id": call, "agent_id": agent, "disposition": d}, eid=eid, tenant=T)

# ---- caps across a local-day boundary and a DST change; multipliers; defaults
c = Case("ledger", "A", [
    "gamification: a published rule set (an invalid one before it is refused), caps per rule",
    "(handled_call: 20 a local day) and per agent (100 a local day) in America/New_York:",
    "a1's calls around local midnight of Oct 30 (EDT) and of Nov 1 (the day clocks go back:",
    "01:30 happens twice, 23:30 EST is still Nov 1); a2's sales hit the agent cap; a3's sale",
    "in the multiplier window pays double; tenant beta has no rules: the built-in ones."])
tenant(c); tenant(c, "UTC", "beta")
c.ev("gamification.rules_published", "acme", "2026-10-01T00:00:30Z",
     {"rules_version": "bad", "rules_json": "{\"rules\": [{\"id\": \"x\", \"event\": \"call.nope\", \"points\": 1}]}"})
rules(c, "acme-1", {"agent_daily_cap": 100, "rules": [
    {"id": "handled_call", "event": "call.ended", "points": 10, "daily_cap": 20,
     "when": {"field": "talk_ms", "gte": 30000}},
    {"id": "sale", "name": "Sale", "event": "call.dispositioned", "points": 50,
     "when": {"field": "disposition", "in": ["sale"]}}],
    "multipliers": [{"from": "2026-10-29T16:00:00Z", "to": "2026-10-29T17:00:00Z",
                     "percent": 200, "rules": ["sale"]}]})
ended(c, "c1", "a1", "2026-10-31T03:00:00Z")          # Oct 30 23:00 EDT
ended(c, "c2", "a1", "2026-10-31T03:20:00Z")          # Oct 30
ended(c, "c3", "a1", "2026-10-31T03:50:00Z")          # Oct 30: capped
ended(c, "c4", "a1", "2026-10-31T04:10:00Z")          # Oct 31 00:10 EDT: a new day
ended(c, "c5", "a1", "2026-10-31T04:20:00Z", 10000)   # too short: no rule
ended(c, "c6", "a1", "2026-11-01T05:30:00Z")          # Nov 1 01:30 EDT
ended(c, "c7", "a1", "2026-11-01T06:30:00Z")          # Nov 1 01:30 EST
ended(c, "c8", "a1", "2026-11-02T04:30:00Z")          # Nov 1 23:30 EST: capped
ended(c, "c9", "a1", "2026-11-02T05:10:00Z")          # Nov 2 00:10 EST: a new day
for i, t in enumerate(["2026-10-28T14:00:00Z", "2026-10-28T15:00:00Z", "2026-10-28T16:00:00Z"]):
    dispo(c, "s%d" % i, "a2", t, "sale")              # 50, 50, then the agent cap
dispo(c, "s9", "a3", "2026-10-29T16:30:00Z", "sale")   # in the window: 100
c.ev("message.inbound", "m1", "2026-10-29T10:00:00Z",
     {"message_id": "m1", "channel": "sms", "from_address": "+15550001111", "agent_id": "b1"}, tenant="beta")
c.ev("call.connected", "bc1", "2026-10-29T10:05:00Z",
     {"call_id": "bc1", "agent_id": "b1", "wait_ms": 5000}, tenant="beta")

# ---- reversals, duplicates, team moves (tenant delta: the built-in rules)
T = "delta"
c.letter = "B"
c.lines += ["# delta:"] + ["# " + x for x in [
    "gamification: a changed disposition reverses the old award and pays the new one (credited",
    "to the team of the award, though the agent moved team in between); a duplicated input",
    "(the same event id twice) pays once; a1 leaves its team: then its points are no team's."]]
tenant(c, t=T)
c.ev("team.created", "t1", "2026-10-27T09:00:00Z", {"team_id": "t1", "name": "Red"}, tenant=T)
c.ev("team.created", "t2", "2026-10-27T09:00:00Z", {"team_id": "t2", "name": "Blue"}, tenant=T)
c.ev("team.member_added", "a1", "2026-10-27T09:01:00Z", {"agent_id": "a1", "team_id": "t1"}, tenant=T)
c.ev("team.member_added", "a2", "2026-10-27T09:01:00Z", {"agent_id": "a2", "team_id": "t2"}, tenant=T)
first = dispo(c, "c1", "a1", "2026-10-27T10:00:00Z", "sale")            # 50 to t1
c.ev("team.member_added", "a1", "2026-10-27T11:00:00Z", {"agent_id": "a1", "team_id": "t2"}, tenant=T)
dispo(c, "c1", "a1", "2026-10-27T12:00:00Z", "not_interested")           # -50 from t1
dispo(c, "c1", "a1", "2026-10-27T10:00:00Z", "sale", eid=first)         # a copy: nothing
dispo(c, "c2", "a1", "2026-10-27T13:00:00Z", "sale")                    # 50 to t2
dispo(c, "c2", "a1", "2026-10-27T13:05:00Z", "appointment_set")         # -50, +25 (t2)
dispo(c, "c3", "a2", "2026-10-27T13:10:00Z", "sale")                    # 50 to t2
c.ev("team.member_removed", "a1", "2026-10-27T14:00:00Z", {"agent_id": "a1", "team_id": "t2"}, tenant=T)
dispo(c, "c4", "a1", "2026-10-27T15:00:00Z", "sale")                    # 50, no team
c.ev("lead.status_changed", "l1", "2026-10-27T15:30:00Z",
     {"lead_id": "l1", "status": "converted", "agent_id": "a2"}, tenant=T)  # 40 to t2
c.write()

# ---- badges, tiers, streaks (tenant gamma)
T = "gamma"
c = Case("badges_redemptions", "C", [
    "gamification: tiered badges (closer: sales 1/2/3), a one-off (first_call), a points badge,",
    "and a streak (20 points on 2, 3, 4 working days in a row, America/New_York): a1 meets it",
    "Thu Oct 29, Fri Oct 30, Sun Nov 1 (not a working day: neither counts nor breaks), Mon Nov 2",
    "(its last call at 23:30 EST, after the clocks went back: still Monday) -> silver; then",
    "Wed Nov 4 after a Tuesday missed: the streak starts again. Each badge and tier once."])
tenant(c, t=T)
rules(c, "gamma-b", t=T, r={"rules": [
    {"id": "handled_call", "event": "call.ended", "points": 10},
    {"id": "sale", "event": "call.dispositioned", "points": 50,
     "when": {"field": "disposition", "eq": "sale"}}],
    "badges": [{"id": "closer", "name": "Closer", "metric": "rule:sale", "tiers": [1, 2, 3]},
               {"id": "first_call", "name": "First call", "metric": "rule:handled_call", "once": 1},
               {"id": "points", "name": "Point scorer", "metric": "points", "tiers": [100, 200]}],
    "streaks": [{"id": "steady", "name": "Steady", "daily_points": 20, "tiers": [2, 3, 4]}]})
k = 0
def two(day_times):
    global k
    for t in day_times:
        k += 1
        ended(c, "k%d" % k, "a1", t)
two(["2026-10-29T14:00:00Z", "2026-10-29T15:00:00Z"])   # Thu
two(["2026-10-30T14:00:00Z", "2026-10-30T15:00:00Z"])   # Fri: bronze
two(["2026-11-01T14:00:00Z", "2026-11-01T15:00:00Z"])   # Sun
two(["2026-11-02T14:00:00Z", "2026-11-03T04:30:00Z"])   # Mon (23:30 EST): silver
two(["2026-11-04T14:00:00Z", "2026-11-04T15:00:00Z"])   # Wed: again 1
for i in range(3):
    dispo(c, "s%d" % i, "a1", "2026-11-05T1%d:00:00Z" % i, "sale")

# ---- redemptions (tenant epsilon: the built-in rules)
T = "epsilon"
c.letter = "D"
c.lines += ["# epsilon:"] + ["# " + x for x in [
    "gamification: a catalogue (r3 withdrawn); a request for a withdrawn reward, at another",
    "price than the catalogue's or for no such reward is invalid, and its approval changes",
    "nothing (concurrent requests past the balance, approvals and rejections: the crash test,",
    "tests/cli/gamification_crash.sh, where the balance is known before they are posted)."]]
tenant(c, t=T)
for rid, cost, active in [("r1", 60, True), ("r2", 50, True), ("r3", 10, False)]:
    c.ev("reward.created", rid, "2026-10-01T00:02:00Z",
         {"reward_id": rid, "name": rid.upper(), "points_cost": cost, "active": active}, tenant=T)
c.ev("reward.updated", "r3", "2026-10-01T00:03:00Z",
     {"reward_id": "r3", "name": "R3", "points_cost": 10, "active": False}, tenant=T)
dispo(c, "c1", "a1", "2026-10-27T10:00:00Z", "sale")
dispo(c, "c2", "a1", "2026-10-27T10:10:00Z", "sale")
c.ev("reward.redemption_requested", "q3", "2026-10-27T11:01:00Z",
     {"redemption_id": "q3", "agent_id": "a1", "reward_id": "r3", "points_cost": 10}, tenant=T)
c.ev("reward.redemption_requested", "q4", "2026-10-27T11:02:00Z",
     {"redemption_id": "q4", "agent_id": "a1", "reward_id": "r2", "points_cost": 1}, tenant=T)
c.ev("reward.redemption_requested", "q6", "2026-10-27T11:02:00Z",
     {"redemption_id": "q6", "agent_id": "a1", "reward_id": "r9", "points_cost": 5}, tenant=T)
c.ev("reward.redemption_decided", "q3", "2026-10-27T12:00:00Z",
     {"redemption_id": "q3", "decision": "approved"}, tenant=T)
c.write()
