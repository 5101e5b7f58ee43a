#!/usr/bin/python3
"""Writes the automation golden cases' input.ndjson (run from tests/golden/automation/all;
the rule sets are JSON inside JSON, easier built than typed)."""
import json

def ce(n, typ, subject, time, data, tenant="acme", id_=None):
    return json.dumps({"specversion": "1.0",
                       "id": id_ or "01KGA7000000000000000%05d" % n,
                       "type": typ, "source": "/golden", "subject": subject,
                       "time": time, "tenantid": tenant, "data": data},
                      separators=(",", ":"))

def rules(n, version, rs, t="2026-11-20T08:00:00Z", tenant="acme"):
    return ce(n, "automation.rules_published", tenant, t,
              {"rules_version": version,
               "rules_json": json.dumps({"rules": rs})}, tenant)

V2 = [
    {"id": "web_queue", "when": "lead.created",
     "if": {"field": "lead_source", "in": ["web_form"]},
     "then": [{"do": "queue", "queue_id": "web"}, {"do": "rescore"},
              {"do": "message", "channel": "sms", "template_id": "intro",
               "purpose": "sales_outreach"}]},
    {"id": "vip_recycle", "when": "lead.created",
     "if": {"all": [{"field": "priority", "gte": 5},
                    {"not": {"field": "lead_source", "eq": "import"}}]},
     "then": [{"do": "recycle", "delay_minutes": 0, "campaign_id": "c-vip"}]},
    {"id": "lost_dnc", "when": "lead.status_changed",
     "if": {"field": "status", "eq": "lost"},
     "then": [{"do": "dnc", "channel": "voice"}]},
    {"id": "recycled_rescore", "when": "lead.recycled",
     "then": [{"do": "rescore"}]},
    {"id": "dnc_goodbye", "when": "lead.dnc_flagged",
     "then": [{"do": "message", "channel": "email", "template_id": "bye"}]},
    {"id": "callback", "when": "call.dispositioned",
     "if": {"field": "disposition", "eq": "callback_requested"},
     "then": [{"do": "recycle", "delay_minutes": 30,
               "campaign_id": "c-callback"}, {"do": "queue",
                                              "queue_id": "callbacks"}]},
]

def actions():
    L = ["# automation: every action (queue, rescore, message, recycle after a delay, dnc); conditions true and false;",
         "# two rules on one event in order; loop safety (its own lead.recycled and lead.dnc_flagged trigger nothing,",
         "# a client's do); a trigger event twice (lead-d) fires once; a tenant without rules (globex) nothing"]
    L.append(rules(1, "acme-2", V2))
    L.append(ce(10, "lead.created", "lead-a", "2026-11-20T09:00:00Z", {"lead_source": "web_form", "priority": 7}))
    L.append(ce(11, "lead.created", "lead-b", "2026-11-20T09:01:00Z", {"lead_source": "referral", "priority": 1}))
    L.append(ce(12, "lead.status_changed", "lead-b", "2026-11-20T09:02:00Z", {"status": "lost"}))
    L.append(ce(13, "lead.created", "lead-c", "2026-11-20T09:03:00Z", {"lead_source": "import", "priority": 9}))
    L.append(ce(14, "lead.recycled", "lead-c", "2026-11-20T09:04:00Z", {"reason": "manual"}))
    L.append(ce(15, "lead.dnc_flagged", "lead-c", "2026-11-20T09:05:00Z", {"dnc_list": "internal", "reason": "asked"}))
    L.append(ce(16, "lead.created", "lead-d", "2026-11-20T09:06:00Z", {"lead_source": "web_form"}))
    L.append(ce(16, "lead.created", "lead-d", "2026-11-20T09:06:00Z", {"lead_source": "web_form"}))
    L.append(ce(17, "call.dispositioned", "call-1", "2026-11-20T09:07:00Z", {"call_id": "call-1", "disposition": "callback_requested", "lead_id": "lead-b"}))
    L.append(ce(18, "call.dispositioned", "call-2", "2026-11-20T09:08:00Z", {"call_id": "call-2", "disposition": "no_answer", "lead_id": "lead-c"}))
    L.append(ce(19, "lead.created", "lead-g", "2026-11-20T09:09:00Z", {"lead_source": "web_form"}, tenant="globex"))
    return L

def caps():
    L = ["# and tenant initech: rule sets replaced (ini-1 then ini-3: only ini-3's rules fire, in their order) and refused",
         "# to the dead letters (over the caps: 65 rules, 9 actions, 32 KiB; a PII field, an unknown field, an unknown action,",
         "# a bad when); the tenant keeps ini-3"]
    T = "initech"
    def R(n, v, rs, t="2026-11-20T08:00:00Z"):
        return rules(100 + n, v, rs, t, tenant=T)
    L.append(R(1, "ini-1", [{"id": "old", "when": "lead.created", "then": [{"do": "rescore"}]}], "2026-11-20T07:00:00Z"))
    many = [{"id": "r%d" % i, "when": "lead.created", "then": [{"do": "rescore"}]} for i in range(65)]
    L.append(R(2, "ini-bad-rules", many))
    L.append(R(3, "ini-bad-actions", [{"id": "x", "when": "lead.created", "then": [{"do": "rescore"}] * 9}]))
    big = [{"id": "b%d" % i, "when": "lead.created", "if": {"field": "lead_source", "in": ["s%03d" % j for j in range(60)]},
            "then": [{"do": "rescore"}]} for i in range(60)]
    L.append(R(4, "ini-bad-bytes", big))
    L.append(R(5, "ini-bad-pii", [{"id": "x", "when": "lead.created", "if": {"field": "email", "eq": "a@b"}, "then": [{"do": "rescore"}]}]))
    L.append(R(6, "ini-bad-field", [{"id": "x", "when": "lead.created", "if": {"field": "colour", "eq": "red"}, "then": [{"do": "rescore"}]}]))
    L.append(R(7, "ini-bad-action", [{"id": "x", "when": "lead.created", "then": [{"do": "explode"}]}]))
    L.append(R(8, "ini-bad-when", [{"id": "x", "when": "agent.logged_in", "then": [{"do": "rescore"}]}]))
    L.append(R(9, "ini-3", [
        {"id": "second", "when": "lead.created", "if": {"field": "priority", "lt": 3}, "then": [{"do": "queue", "queue_id": "low"}]},
        {"id": "first", "when": "lead.created", "then": [{"do": "rescore"}, {"do": "queue", "queue_id": "all"}]}], "2026-11-20T08:30:00Z"))
    L.append(ce(110, "lead.created", "lead-i1", "2026-11-20T09:00:00Z", {"lead_source": "web_form", "priority": 1}, tenant=T))
    L.append(ce(111, "lead.created", "lead-i2", "2026-11-20T09:01:00Z", {"lead_source": "web_form", "priority": 4}, tenant=T))
    return L

open("input.ndjson", "w").write("\n".join(actions() + caps()) + "\n")
