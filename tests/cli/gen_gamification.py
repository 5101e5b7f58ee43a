#!/usr/bin/python3
"""Source events for the gamification processor's crash test, as CloudEvents
NDJSON, scored under the built-in rule set (processors/gamification/
gam_rules.c: handled_call 5 for talk >= 30 s, sale 50, appointment 25,
converted 40, reply 3, service_level 2 for wait <= 20 s).

  gen_gamification.py events N FIRST   events FIRST .. FIRST+N-1 on stdout
  gen_gamification.py expect N         per tenant and agent, the balance the
                                       ledger must sum to for events
                                       0 .. N-1, computed here on its own;
                                       then per tenant and team the team's
                                       (lines "agent T A P", "team T X P")

Event i is the same whatever N is, so a stream can be written in chunks.
The first 12 put each agent in a team (dated before every award); then
calls end, calls are dispositioned and every second disposition changes
the one before it (the same call, the same agent: the first award is
reversed, the second paid), leads convert, messages are answered, calls are
answered within or past the service level, spread over the agents of two
tenants and ten days so that no daily cap is reached (checked here: a cap
would make the expected sums depend on arrival order).
"""
import collections
import datetime
import json
import sys

START = 1792929600  # 2026-10-25T12:00:00Z
TENANTS = ["gx1", "gx2"]
AGENTS = ["a%d" % k for k in range(6)]
DISPOS = ["sale", "appointment_set", "not_interested", "no_answer"]
PTS = {"sale": 50, "appointment_set": 25}
CAPS = {"handled_call": 200, "reply": 60, "service_level": 100}


def who(i):
    if i < 12:
        return TENANTS[i % 2], AGENTS[(i // 2) % 6]
    j = i - 1 if i % 10 == 4 else i  # a disposition changed: the same agent
    return TENANTS[(j // 10) % 2], AGENTS[(j * 7 + j // 10) % 6]


def team(tenant, agent):
    return "team%d" % (AGENTS.index(agent) % 3)


def ts(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def event(i):
    """(CloudEvent, rule, points) of event i (rule None: pays nothing)"""
    tenant, agent = who(i)
    t = START + 3600 + i * 240
    e = {"specversion": "1.0", "id": "01GAMX%020d" % i, "source": "/gen",
         "time": ts(t), "tenantid": tenant}
    if i < 12:
        e.update(type="team.member_added", subject=agent, time=ts(START),
                 data={"agent_id": agent, "team_id": team(tenant, agent)})
        return e, None, 0
    kind = i % 10
    if kind in (0, 1, 2, 8, 9):
        talk = 20000 + (i * 7919) % 60000
        e.update(type="call.ended", subject="c%d" % i,
                 data={"call_id": "c%d" % i, "agent_id": agent, "talk_ms": talk})
        return e, "handled_call", 5 if talk >= 30000 else 0
    if kind in (3, 4):
        call = "d%d" % (i if kind == 3 else i - 1)
        d = DISPOS[(i * 13 + kind) % 4]
        e.update(type="call.dispositioned", subject=call,
                 data={"call_id": call, "agent_id": agent, "disposition": d})
        return e, "dispo:" + call, PTS.get(d, 0)
    if kind == 5:
        st = "converted" if i % 20 == 5 else "working"
        e.update(type="lead.status_changed", subject="l%d" % i,
                 data={"lead_id": "l%d" % i, "status": st, "agent_id": agent})
        return e, "converted", 40 if st == "converted" else 0
    if kind == 6:
        e.update(type="message.inbound", subject="m%d" % i,
                 data={"message_id": "m%d" % i, "channel": "sms",
                       "from_address": "+15550001111", "agent_id": agent})
        return e, "reply", 3
    wait = (i * 104729) % 40000
    e.update(type="call.connected", subject="c%d" % i,
             data={"call_id": "c%d" % i, "agent_id": agent, "wait_ms": wait})
    return e, "service_level", 2 if wait <= 20000 else 0


def main():
    if sys.argv[1] == "events":
        n, first = int(sys.argv[2]), int(sys.argv[3])
        for i in range(first, first + n):
            sys.stdout.write(json.dumps(event(i)[0], separators=(",", ":")) + "\n")
        return
    n = int(sys.argv[2])
    dispo = {}  # (tenant, agent, call) -> points of its last disposition
    bal = collections.Counter()
    day = collections.Counter()
    for i in range(n):
        e, rule, pts = event(i)
        if rule is None:
            continue
        tenant, agent = who(i)
        d = (int(datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ")
                 .replace(tzinfo=datetime.timezone.utc).timestamp()) // 86400)
        if rule.startswith("dispo:"):
            dispo[(tenant, agent, rule[6:])] = pts
            day[(tenant, agent, d, "*")] += pts  # a bound: some are reversed
        else:
            bal[(tenant, agent)] += pts
            day[(tenant, agent, d, rule)] += pts
            day[(tenant, agent, d, "*")] += pts
    for (tenant, agent, _), pts in dispo.items():
        bal[(tenant, agent)] += pts
    for (tenant, agent, d, rule), pts in day.items():
        cap = 1000 if rule == "*" else CAPS.get(rule, 10 ** 9)
        if pts > cap:
            sys.exit("gen_gamification: %s %s day %d %s reaches %d (cap %d)" %
                     (tenant, agent, d, rule, pts, cap))
    teams = collections.Counter()
    for (tenant, agent), pts in sorted(bal.items()):
        print("agent %s %s %d" % (tenant, agent, pts))
        teams[(tenant, team(tenant, agent))] += pts
    for (tenant, t), pts in sorted(teams.items()):
        print("team %s %s %d" % (tenant, t, pts))


if __name__ == "__main__":
    main()
