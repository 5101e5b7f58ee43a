#!/usr/bin/python3
"""Security events for the security processor's tests, as CloudEvents NDJSON.

  gen_security.py events N FIRST     events FIRST .. FIRST+N-1 on stdout
  gen_security.py expect N WINDOW_MS THRESHOLD
                                     what the security projection must hold
                                     for events 0 .. N-1, computed here on
                                     its own: the failures' count, the
                                     flagged failures' ids (sorted), the
                                     reads' attempts and records, sign-ins

Event i is the same whatever N is, so a stream can be written in chunks.
Failures come from a few addresses, by users on every partition, their
times out of order by up to 9 s, so that addresses cross the threshold;
some are records standing for several refusals (attempts).
"""
import datetime
import json
import sys

START = 1769299200  # 2026-01-25T00:00:00Z
TENANTS = ["acme", "globex", "initech"]


def event(i):
    tenant = TENANTS[i % 3]
    user = "u%d" % (i % 23)
    t = START + i * 4 - (i % 4) * 3
    kind = i % 5
    ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    e = {"specversion": "1.0", "id": "01SECR%020d" % i, "source": "switchboard://http",
         "subject": user, "time": ts, "tenantid": tenant}
    ip = "10.0.%d.%d" % (i % 7, (i // 35) % 3)
    if kind in (0, 1):
        e["type"] = "security.login_failed"
        e["data"] = {"user_id": user, "reason": "bad_credentials", "ip": ip,
                     "user_agent": "gen/1"}
        if i % 11 == 0:
            e["data"]["attempts"] = 1 + i % 4
    elif kind == 2:
        e["type"] = "security.access_denied"
        e["data"] = {"user_id": user, "reason": "insufficient_role", "ip": ip,
                     "attempts": 1 + i % 3}
    else:
        e["type"] = "access.recorded"
        action = "LOGIN" if i % 10 == 3 else "READ"
        e["data"] = {"user_id": user, "action": action}
        if action == "READ":
            e["data"].update({"resource_type": "projection",
                              "resource_id": "audit.events",
                              "records_count": i % 7, "attempts": 1 + i % 4})
    return e, t


def main():
    if sys.argv[1] == "events":
        n, first = int(sys.argv[2]), int(sys.argv[3])
        out = sys.stdout
        for i in range(first, first + n):
            out.write(json.dumps(event(i)[0], separators=(",", ":")) + "\n")
        return
    n, window_ms, threshold = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    failures = {}  # (tenant, ip) -> [(t, attempts, id)]
    reads = records = logins = nfail = 0
    for i in range(n):
        e, t = event(i)
        d = e["data"]
        if e["type"] == "access.recorded":
            if d["action"] == "READ":
                reads += d["attempts"]
                records += d["records_count"]
            else:
                logins += 1
            continue
        nfail += 1
        failures.setdefault((e["tenantid"], d["ip"]), []).append(
            (t, d.get("attempts") or 1, e["id"]))
    flagged = []
    w = window_ms / 1000.0
    for fs in failures.values():
        for t, _, fid in fs:
            if sum(a for u, a, _ in fs if t - w <= u <= t) >= threshold:
                flagged.append(fid)
    print(nfail, reads, records, logins)
    for fid in sorted(flagged):
        print(fid)


main()
