#!/usr/bin/env python3
"""Events for tests/cli/retention_crash.sh, relative to now.

  gen_retention.py hist N        per tenant, N old and N young failed logins
                                 and reads (each read by a user of its own:
                                 one security.access row each)
  gen_retention.py young C N     chunk C: N young events, round robin over
                                 the tenants (users of their own)
  gen_retention.py policies      each tenant's security and access policy
  gen_retention.py expect N C M  per tenant: "tenant days old young" (young:
                                 of hist N and C chunks of M), each kind

Old events are at least two days past their tenant's policy, young ones at
least two days within it, so a cutoff moving by the test's minutes never
changes which is which."""
import datetime
import json
import sys

TENANTS = {"acme": 30, "globex": 20, "initech": 45}
NOW = datetime.datetime.now(datetime.timezone.utc)


def ev(tenant, kind, user, age_s):
    t = NOW - datetime.timedelta(seconds=age_s)
    e = {"specversion": "1.0", "source": "test://retention", "subject": user,
         "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "tenantid": tenant}
    if kind == "f":
        e["type"] = "security.login_failed"
        e["data"] = {"user_id": user, "reason": "bad_credentials", "ip": "10.1.0.1"}
    else:
        e["type"] = "access.recorded"
        e["data"] = {"user_id": user, "action": "READ", "resource_type": "projection",
                     "resource_id": "security.failures", "records_count": 1}
    return json.dumps(e, separators=(",", ":"))


def young_age(i, days):
    return (i * 7919) % ((days - 2) * 86400)


def main():
    mode = sys.argv[1]
    if mode == "hist":
        n = int(sys.argv[2])
        for tenant, days in TENANTS.items():
            for i in range(n):
                old = (days + 2) * 86400 + (i * 7919) % (40 * 86400)
                for kind in "fr":
                    print(ev(tenant, kind, "h%s%d-old" % (kind, i), old))
                    print(ev(tenant, kind, "h%s%d-new" % (kind, i), young_age(i, days)))
    elif mode == "young":
        c, n = int(sys.argv[2]), int(sys.argv[3])
        names = sorted(TENANTS)
        for i in range(n):
            tenant = names[i % 3]
            for kind in "fr":
                print(ev(tenant, kind, "y%s%d-%d" % (kind, c, i), young_age(i, TENANTS[tenant])))
    elif mode == "policies":
        for tenant, days in TENANTS.items():
            for cls in ("security", "access"):
                print(json.dumps({"specversion": "1.0", "type": "retention.policy_set",
                                  "source": "test://dpo", "subject": cls,
                                  "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "tenantid": tenant,
                                  "data": {"class": cls, "days": days, "set_by": "dpo"}}))
    elif mode == "expect":
        n, chunks, m = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        names = sorted(TENANTS)
        for tenant in names:
            young = n + sum(1 for c in range(chunks) for i in range(m) if names[i % 3] == tenant)
            print(tenant, TENANTS[tenant], n, young)


main()
