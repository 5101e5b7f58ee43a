#!/usr/bin/python3
"""A routing workload for cli_routing_e2e, as CloudEvents NDJSON on stdout:

  gen_routing_e2e.py ZONE START AGENTS LEADS TENANT...

For each tenant: two active campaigns dialling all day (camp-a, camp-b;
camp-b's queue configured round_robin, camp-a's the default), AGENTS agents
logging in to one or both (some speaking Spanish, levels 1 to 3), then
LEADS leads with consent, in ZONE (where it is daytime: calling hours),
some requiring Spanish 2 (lead v4), each followed by one agent becoming
available again (so most leads find an agent). Times from START (unix
seconds), 1 s an event per tenant, the tenants' events interleaved.
"""
import datetime
import json
import sys

zone, start, nagents, nleads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tenants = sys.argv[5:]


def ce(tenant, k, typ, subject, data):
    t = datetime.datetime.fromtimestamp(start + k, datetime.timezone.utc)
    return json.dumps({"specversion": "1.0", "type": typ, "source": "/gen",
                       "subject": subject, "tenantid": tenant,
                       "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data},
                      separators=(",", ":"))


def events(tenant):
    out = []
    for c in ("camp-a", "camp-b"):
        out.append(("campaign.created", c, {"campaign_id": c, "name": c, "state": "active",
                                            "time_zone": "UTC",
                                            "dial_windows": ["all 00:00-24:00"]}))
    out.append(("routing.queue_configured", "camp-b", {"strategy": "round_robin"}))
    for n in range(nagents):
        a = {"campaign_ids": [["camp-a"], ["camp-b"], ["camp-a", "camp-b"]][n % 3]}
        if n % 2:
            a["skills"] = ["es:%d" % (1 + n % 3)]
        out.append(("agent.logged_in", "ag-%03d" % n, a))
    for i in range(nleads):
        lead = "ld-%04d" % i
        out.append(("consent.given", lead, {"purpose": "sales_outreach", "channel": "voice",
                                            "method": "web_form"}))
        l = {"lead_source": ["web_form", "referral", "partner"][i % 3],
             "campaign_id": "camp-a" if i % 3 else "camp-b", "time_zone": zone}
        if i % 5 == 2:
            l["required_skills"] = ["es:2"]
        out.append(("lead.created", lead, l))
        out.append(("agent.state_changed", "ag-%03d" % ((i * 7) % nagents),
                    {"state": "available"}))
    return out


per = {t: events(t) for t in tenants}
for k in range(max(len(v) for v in per.values())):
    for t in tenants:
        if k < len(per[t]):
            typ, subj, data = per[t][k]
            print(ce(t, k, typ, subj, data))
