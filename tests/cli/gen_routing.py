#!/usr/bin/python3
"""Inputs of the assignment processor (routing.input) for its crash test, as
CloudEvents NDJSON.

  gen_routing.py events N FIRST   inputs FIRST .. FIRST+N-1 on stdout
  gen_routing.py leads N          the leads made ready among inputs 0..N-1

Input i is the same whatever N is, so a stream can be written in chunks.
Three tenants, eight agents each in two queues (voice capacity 1, chat 2,
some with skills), their snapshots changing state now and then (as_of
increasing, an older copy now and then), leads ready in both queues and
channels (each lead id once; some needing a skill), some withdrawn later,
a queue reconfigured now and then, and a tick now and then. Times advance
2 s an input per tenant.
"""
import json
import sys

START = 1772442000  # 2026-03-02T09:00:00Z
TENANTS = ["acme", "globex", "initech"]
STATES = ["available", "available", "available", "paused", "on_call", "wrapup"]
STRATEGIES = ["longest_wait", "fewest_calls", "round_robin", "skills", "capacity"]


def us(t):
    return t * 1000000


def agent(n, i, t, as_of):
    a = {"id": "a%02d" % n, "state": STATES[(i // 3 + n) % len(STATES)],
         "idle_since": us(t - 60 - n), "as_of": us(as_of),
         "queues": ["sales", "support"] if n % 3 else ["sales"],
         "capacity": {"voice": 1, "chat": 2}, "calls_today": (i + n) % 7}
    if n % 2:
        a["skills"] = {"es": 1 + n % 4}
    return a


def event(i):
    tenant = TENANTS[i % 3]
    k = i // 3  # the tenant's own count
    t = START + 2 * k
    kind = k % 10
    data = {"route_key": tenant}
    if kind in (0, 5):
        n = (k * 7) % 8
        as_of = t - 30 if k % 17 == 0 else t  # now and then an older copy
        data.update(kind="agent", ref_id="a%02d" % n,
                    payload=json.dumps(agent(n, k, t, as_of)))
    elif kind in (1, 2, 3, 6, 7, 8):
        lead = "L%06d" % i
        rec = {"id": lead, "queue": "sales" if k % 4 else "support",
               "channel": "chat" if k % 5 == 1 else "voice", "units": 1,
               "score": (k * 37) % 100, "recycled": 1 if k % 13 == 0 else 0}
        if k % 6 == 2:
            rec["required"] = {"es": 2}
        if k % 9 == 3:
            rec["optional"] = {"es": 3}
        data.update(kind="lead_ready", ref_id=lead, payload=json.dumps(rec))
    elif kind == 4:
        # withdraw a lead made ready 30 inputs of this tenant earlier
        data.update(kind="lead_withdrawn", ref_id="L%06d" % (i - 3 * 17),
                    reason="closed")
    elif kind == 9 and k % 20 == 9:
        q = "sales" if k % 40 == 9 else "support"
        data.update(kind="queue", ref_id=q, payload=json.dumps(
            {"id": q, "strategy": STRATEGIES[(k // 20) % 5],
             "relax_after": 20000000, "priority": k % 3}))
    else:
        data.update(kind="tick")
    ts = "2026-03-02T%02d:%02d:%02dZ" % ((t - START) // 3600 + 9,
                                        (t - START) // 60 % 60, (t - START) % 60)
    return {"specversion": "1.0", "id": "01RTNG%020d" % i, "type": "routing.input",
            "source": "gen://routing", "subject": tenant, "time": ts,
            "tenantid": tenant, "data": data}


def main():
    if sys.argv[1] == "events":
        n, first = int(sys.argv[2]), int(sys.argv[3])
        for i in range(first, first + n):
            print(json.dumps(event(i), separators=(",", ":")))
    elif sys.argv[1] == "leads":
        for i in range(int(sys.argv[2])):
            e = event(i)
            if e["data"]["kind"] == "lead_ready":
                print(e["tenantid"], e["data"]["ref_id"])
    else:
        sys.exit("usage: gen_routing.py events N FIRST | leads N")


main()
