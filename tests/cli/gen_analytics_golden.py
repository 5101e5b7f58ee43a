#!/usr/bin/python3
"""Writes the analytics golden cases' input.ndjson (tests/golden/analytics/).
(/usr/bin/python3 tests/cli/gen_analytics_golden.py)

Each family's events are listed in time order; the case's input is that
list with some events moved later (late, out of order), some repeated with
the same id (duplicates) and some at the end (late by hours). The
calls_in_order case is the calls events in time order once each: its
expected files are the calls case's, so order and duplicates are shown to
change nothing (written with --in-order only: copy calls/expected and
calls/conf into it and run golden_projections; it is not committed, to keep
the suite's time). Run it from anywhere; it rewrites the input files
only."""
import json, os, sys

IN_ORDER = "--in-order" in sys.argv

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                    "analytics")
seq = [0]


def ev(typ, subject, time, data, tenant="acme", eid=None):
    seq[0] += 1
    e = {"specversion": "1.0", "id": eid or "01KA%022d" % seq[0], "type": typ,
         "source": "/golden", "subject": subject, "time": time,
         "tenantid": tenant, "data": data}
    return e


def tenants():
    return [ev("tenant.created", "acme", "2026-01-01T00:00:00Z",
               {"display_name": "Acme", "time_zone": "America/New_York"}),
            ev("tenant.created", "globex", "2026-01-01T00:00:00Z",
               {"display_name": "Globex", "time_zone": "UTC"},
               tenant="globex")]


def clocks(topic_type, field, day="2026-01-17"):
    """events hours later on many keys: every partition's event time moves
    past the timers"""
    out = []
    for i in range(8):
        d = {field: "clock-%d" % i}
        if topic_type == "call.ivr_step":
            d = {"call_id": "clock-%d" % i, "node_id": "menu"}
        out.append(ev(topic_type, "clock-%d" % i, "%sT12:00:0%dZ" % (day, i), d))
    return out


def write(case, header, lines):
    d = os.path.join(HERE, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "input.ndjson"), "w") as f:
        for h in header:
            f.write("# " + h + "\n")
        for e in lines:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def call(typ, cid, time, tenant="acme", **data):
    data["call_id"] = cid
    return ev(typ, cid, time, data, tenant=tenant)


def calls():
    T = "2026-01-15T"
    c = {}
    c["c1"] = [
        call("call.started", "c1", T + "14:00:00Z", direction="inbound", campaign_id="k1"),
        call("call.queued", "c1", T + "14:00:02Z", queue_id="q1"),
        call("call.offered", "c1", T + "14:00:03Z", agent_id="a1", queue_id="q1"),
        call("call.connected", "c1", T + "14:00:12Z", agent_id="a1", queue_id="q1", wait_ms=10000),
        call("call.ended", "c1", T + "14:05:12Z", direction="inbound", agent_id="a1", queue_id="q1",
             campaign_id="k1", talk_ms=280000, hold_ms=20000, wait_ms=10000,
             started_at="2026-01-15T14:00:00Z", answered_at="2026-01-15T14:00:12Z"),
        call("call.dispositioned", "c1", T + "14:06:00Z", disposition="sale", agent_id="a1",
             wrapup_ms=45000, sale_amount_cents=50000, currency="USD"),
    ]
    c["c2"] = [
        call("call.started", "c2", T + "14:10:00Z", direction="inbound"),
        call("call.queued", "c2", T + "14:10:01Z", queue_id="q1"),
        call("call.connected", "c2", T + "14:10:41Z", agent_id="a2", queue_id="q1", wait_ms=40000),
        call("call.transferred", "c2", T + "14:12:00Z", from_agent_id="a2", target_kind="agent",
             target_agent_id="a1"),
        call("call.ended", "c2", T + "14:14:41Z", direction="inbound", agent_id="a2", queue_id="q1",
             talk_ms=240000, hold_ms=0),
        call("call.dispositioned", "c2", T + "14:15:00Z", disposition="not_interested",
             agent_id="a2", wrapup_ms=30000),
    ]
    c["c3"] = [
        call("call.started", "c3", T + "14:20:00Z", direction="inbound"),
        call("call.queued", "c3", T + "14:20:01Z", queue_id="q1"),
        call("call.abandoned", "c3", T + "14:20:04Z", queue_id="q1", wait_ms=3000,
             abandoned_in="queue"),
        call("call.ended", "c3", T + "14:20:04Z", direction="inbound", queue_id="q1",
             end_reason="abandoned"),
    ]
    c["c4"] = [
        call("call.started", "c4", T + "14:30:00Z", direction="inbound"),
        call("call.queued", "c4", T + "14:30:01Z", queue_id="q1"),
        call("call.abandoned", "c4", T + "14:31:01Z", queue_id="q1", wait_ms=60000,
             abandoned_in="queue"),
        call("call.ended", "c4", T + "14:31:01Z", direction="inbound", queue_id="q1",
             end_reason="abandoned"),
    ]
    # outbound, answered; its disposition comes after the wait (late)
    c["c5"] = [
        call("call.started", "c5", T + "15:00:00Z", direction="outbound", campaign_id="k1",
             agent_id="a1"),
        call("call.connected", "c5", T + "15:00:20Z", agent_id="a1"),
        call("call.ended", "c5", T + "15:03:20Z", direction="outbound", agent_id="a1",
             campaign_id="k1", talk_ms=180000),
    ]
    c5_dispo = call("call.dispositioned", "c5", T + "16:00:00Z",
                    disposition="appointment_set", agent_id="a1", wrapup_ms=20000)
    # globex (UTC): starts at 23:30 on the 15th, ends on the 16th
    c["c6"] = [
        call("call.started", "c6", T + "23:30:00Z", tenant="globex", direction="inbound"),
        call("call.queued", "c6", T + "23:30:01Z", tenant="globex", queue_id="qg"),
        call("call.connected", "c6", T + "23:30:06Z", tenant="globex", agent_id="g1",
             queue_id="qg", wait_ms=5000),
        call("call.ended", "c6", "2026-01-16T00:10:06Z", tenant="globex", direction="inbound",
             agent_id="g1", queue_id="qg", talk_ms=2400000),
        call("call.dispositioned", "c6", "2026-01-16T00:11:00Z", tenant="globex",
             disposition="sale", agent_id="g1", wrapup_ms=60000, sale_amount_cents=10000),
    ]
    # acme, 04:30 UTC on the 15th: 23:30 on the 14th in New York
    c["c7"] = [
        call("call.started", "c7", T + "04:30:00Z", direction="inbound"),
        call("call.queued", "c7", T + "04:30:01Z", queue_id="q1"),
        call("call.connected", "c7", T + "04:30:26Z", agent_id="a2", queue_id="q1", wait_ms=25000),
        call("call.ended", "c7", T + "04:36:26Z", direction="inbound", agent_id="a2",
             queue_id="q1", talk_ms=300000, hold_ms=30000),
        call("call.dispositioned", "c7", T + "04:37:00Z", disposition="callback_requested",
             agent_id="a2", wrapup_ms=15000),
    ]
    ordered = sorted([e for k in c for e in c[k]] + [c5_dispo], key=lambda e: e["time"])
    # the messy log: c1's disposition before its end, c2's end before its
    # connection, duplicates of c1's end and disposition, c3's abandon and
    # c2's transfer; c5's disposition after the clocks moved event time past
    # its wait; c7 (the previous local day) last
    c1, c2, c3, c4, c5, c6 = c["c1"], c["c2"], c["c3"], c["c4"], c["c5"], c["c6"]
    messy = ([c1[0], c1[1], c1[5], c1[2], c1[3], c2[0], c1[4], c1[5], c2[1], c2[4], c2[3],
              c2[2], c2[3], c2[5], c1[4], c3[0], c3[1], c3[2], c3[2], c3[3], c4[3], c4[0],
              c4[2], c4[1]] + c5 + c6 + clocks("call.ivr_step", "call_id")[:4] + [c5_dispo]
             + c["c7"] + clocks("call.ivr_step", "call_id")[4:])
    head = ["calls: seven calls in two tenants (acme New York, globex UTC), some",
            "late, out of order and duplicated; see tests/cli/gen_analytics_golden.py (which writes",
            "this file) for the story of each; conf: a 600 s disposition wait"]
    write("calls", head, tenants() + messy)
    if IN_ORDER:  # a check by hand, not a committed case (the suite's time)
        write("calls_in_order", ["the calls case's events in time order, once each: "
                                 "the same rows"],
              tenants() + ordered + clocks("call.ivr_step", "call_id"))


def agent(typ, a, time, tenant="acme", **data):
    data["agent_id"] = a
    return ev(typ, a, time, data, tenant=tenant)


def agents():
    T = "2026-01-15T"
    e = [
        agent("agent.logged_in", "a1", T + "13:55:00Z"),
        agent("agent.state_changed", "a1", T + "13:59:55Z", state="available",
              previous_state="offline", previous_state_ms=295000),
        agent("agent.state_changed", "a1", T + "14:00:12Z", state="on_call",
              previous_state="available", previous_state_ms=17000, call_id="c1"),
        agent("agent.state_changed", "a1", T + "14:05:12Z", state="wrapup",
              previous_state="on_call", previous_state_ms=300000),
        agent("agent.state_changed", "a1", T + "14:06:00Z", state="paused",
              previous_state="wrapup", previous_state_ms=48000, pause_reason="lunch"),
        agent("agent.state_changed", "a1", T + "14:36:00Z", state="available",
              previous_state="paused", previous_state_ms=1800000),
        agent("agent.state_changed", "a1", T + "14:50:00Z", state="paused",
              previous_state="available", previous_state_ms=840000, pause_reason="break"),
        agent("agent.state_changed", "a1", T + "15:10:00Z", state="available",
              previous_state="paused", previous_state_ms=1200000),
        agent("agent.state_changed", "a1", T + "15:20:00Z", state="offline",
              previous_state="available", previous_state_ms=600000),
        agent("agent.logged_out", "a1", T + "15:20:00Z", session_ms=5100000, reason="manual"),
        agent("agent.logged_in", "g1", T + "23:00:00Z", tenant="globex"),
        agent("agent.state_changed", "g1", "2026-01-16T00:30:00Z", tenant="globex",
              state="offline", previous_state="available", previous_state_ms=5400000),
        agent("agent.logged_out", "g1", "2026-01-16T00:30:00Z", tenant="globex",
              session_ms=5400000),
    ]
    # points (sb.gamification): a1's award twice (one id), a reversal
    pts = [
        ev("points.awarded", "a1", T + "14:06:00Z", {"agent_id": "a1", "rule_id": "sale",
           "points": 20, "source_event_id": "01KA0000000000000000000006", "team_id": "t1"}),
        ev("points.awarded", "a1", T + "15:00:00Z", {"agent_id": "a1", "rule_id": "calls",
           "points": 5, "source_event_id": "01KA0000000000000000000007", "team_id": "t1"}),
        ev("points.reversed", "a1", T + "16:00:00Z", {"agent_id": "a1", "rule_id": "calls",
           "points": 5, "source_event_id": "01KA0000000000000000000008", "reason": "audit",
           "team_id": "t1"}),
        ev("points.awarded", "g1", T + "23:30:00Z", {"agent_id": "g1", "rule_id": "sale",
           "points": 10, "source_event_id": "01KA0000000000000000000009"}, tenant="globex"),
    ]
    # the 15:10 exit of the break before its 14:50 entry, the 14:36 exit
    # repeated, g1's day-crossing events before a1's, a1's sign-in last;
    # the reversal before its award
    messy = [e[10], e[11], e[12], e[1], e[2], e[3], e[4], e[5], e[5], e[7], e[6], e[8], e[9],
             e[9], e[0], pts[0], pts[2], pts[0], pts[1], pts[3]]
    write("agents", ["agents: a1 (acme, New York) and g1 (globex, UTC); the end of a",
                     "pause before its start, duplicates, a sign-in last; points; see",
                     "tests/cli/gen_analytics_golden.py"], tenants() + messy)
    return e


def lead(typ, l, time, tenant="acme", **data):
    data["lead_id"] = l
    return ev(typ, l, time, data, tenant=tenant)


def leads():
    T = "2026-01-15T"
    e = [
        lead("lead.created", "l1", T + "14:00:00Z", status="new", lead_source="web_form",
             campaign_id="k1", acquisition_cost_cents=1500),
        lead("lead.status_changed", "l1", T + "14:30:00Z", status="contacted",
             previous_status="new"),
        lead("lead.status_changed", "l1", T + "16:00:00Z", status="qualified",
             previous_status="contacted"),
        lead("lead.status_changed", "l1", "2026-01-16T15:00:00Z", status="converted",
             previous_status="qualified", revenue_cents=90000),
        lead("lead.created", "l2", T + "14:10:00Z", status="new", lead_source="facebook",
             campaign_id="k1"),
        lead("lead.status_changed", "l2", T + "15:00:00Z", status="contacted",
             previous_status="new"),
        lead("lead.status_changed", "l2", T + "15:30:00Z", status="lost",
             previous_status="contacted"),
        lead("lead.created", "l3", T + "13:00:00Z", status="new", lead_source="google_ads",
             campaign_id="k2"),
        lead("lead.status_changed", "l3", T + "13:20:00Z", status="contacted",
             previous_status="new"),
        lead("lead.created", "l4", T + "10:00:00Z", tenant="globex", status="new",
             lead_source="referral"),
        lead("lead.created", "l5", "2026-01-14T20:00:00Z", status="new",
             lead_source="web_form", campaign_id="k1"),
    ]
    # l3's change before its creation (and twice); l1's conversion before
    # its qualification; l5, created the day before, last
    messy = [e[0], e[1], e[3], e[8], e[8], e[4], e[5], e[7], e[2], e[6], e[6], e[9], e[0],
             e[10]]
    write("leads", ["leads: l1-l3, l5 (acme, New York), l4 (globex); changes before",
                    "their lead.created, duplicates, a late creation; see",
                    "tests/cli/gen_analytics_golden.py"], tenants() + messy)


def camp(typ, k, time, tenant="acme", **data):
    data["campaign_id"] = k
    return ev(typ, k, time, data, tenant=tenant)


def campaigns():
    T = "2026-01-1"
    e = [
        camp("campaign.created", "k1", T + "0T09:00:00Z", name="Winter", state="active",
             campaign_type="outbound", budget_cents=1000000, daily_budget_cents=50000,
             currency="USD"),
        camp("campaign.updated", "k1", T + "2T09:00:00Z", changed_fields=["budget_cents"],
             budget_cents=900000),
        camp("campaign.updated", "k1", T + "4T09:00:00Z", changed_fields=["budget_cents"],
             budget_cents=1200000),
        camp("campaign.state_changed", "k1", T + "6T09:00:00Z", state="paused",
             previous_state="active"),
        camp("campaign.spend_recorded", "k1", T + "5T23:00:00Z", amount_cents=40000,
             currency="USD", lead_source="web_form", period_start="2026-01-15T05:00:00Z",
             clicks=120, impressions=4000),
        camp("campaign.spend_recorded", "k1", T + "6T23:00:00Z", amount_cents=60000,
             currency="USD", lead_source="facebook", period_start="2026-01-16T05:00:00Z",
             clicks=80, impressions=3000, leads_count=2),
        camp("campaign.created", "k2", T + "0T09:00:00Z", name="Search", state="active",
             budget_cents=200000, currency="USD"),
        camp("campaign.spend_recorded", "k2", T + "5T23:00:00Z", amount_cents=5000,
             currency="USD", lead_source="google_ads"),
        camp("campaign.spend_recorded", "kg", T + "5T12:00:00Z", tenant="globex",
             amount_cents=7000, currency="EUR"),
    ]
    # the newer budget before the older one (the older must not win), the
    # state change before them, a spend record twice
    messy = [e[0], e[3], e[2], e[1], e[5], e[4], e[5], e[6], e[7], e[8], e[7]]
    write("campaigns", ["campaigns: k1, k2 (acme, New York), kg (globex): settings late and",
                        "out of order, spend duplicated; see tests/cli/gen_analytics_golden.py"],
          tenants() + messy)


def msg(typ, m, time, tenant="acme", **data):
    data["message_id"] = m
    return ev(typ, m, time, data, tenant=tenant)


def messages():
    T = "2026-01-15T"
    e = [
        msg("message.requested", "m1", T + "14:00:00Z", channel="sms", to_address="+15551230001",
            to_address_hmac="a" * 64, campaign_id="k1", purpose="transactional"),
        msg("message.submitted", "m1", T + "14:00:01Z", provider="twilio", channel="sms"),
        msg("message.status_updated", "m1", T + "14:00:05Z", status="sent", provider="twilio"),
        msg("message.status_updated", "m1", T + "14:00:09Z", status="delivered",
            provider="twilio"),
        msg("message.status_updated", "m1", T + "14:00:11Z", status="delivered",
            provider="twilio"),
        msg("message.status_updated", "m1", T + "15:02:00Z", status="read", provider="twilio"),
        msg("message.requested", "m2", T + "14:10:00Z", channel="email",
            to_address="x@example.com", to_address_hmac="b" * 64, purpose="marketing"),
        msg("message.blocked", "m2", T + "14:10:00Z", reason="no_consent", channel="email"),
        msg("message.requested", "m3", T + "14:20:00Z", channel="whatsapp",
            to_address="+15551230003", to_address_hmac="c" * 64, purpose="transactional"),
        msg("message.submitted", "m3", T + "14:20:01Z", provider="meta", channel="whatsapp"),
        msg("message.status_updated", "m3", T + "14:20:30Z", status="failed", provider="meta",
            error_code="131026"),
        msg("message.requested", "m4", T + "10:00:00Z", tenant="globex", channel="sms",
            to_address="+445550000001", to_address_hmac="d" * 64, purpose="transactional"),
        msg("message.status_updated", "m4", T + "10:00:03Z", tenant="globex", status="delivered",
            provider="vonage"),
    ]
    # m1: read before delivered, delivered twice (two provider callbacks)
    # and once more with the same id; its status before its request; m4's
    # delivery before its request
    messy = [e[2], e[0], e[5], e[1], e[4], e[3], e[3], e[6], e[7], e[10], e[8], e[9], e[12],
             e[11]]
    write("messages", ["messages: m1-m3 (acme, New York), m4 (globex): statuses out of",
                       "order, repeated by the provider and duplicated; see tests/cli/gen_analytics_golden.py"],
          tenants() + messy)


def queue_cfg(q, time, tenant="acme", eid=None, **data):
    data["queue_id"] = q
    data.setdefault("strategy", "longest_wait_time")
    return ev("routing.queue_configured", q, time, data, tenant=tenant, eid=eid)


def sl_call(cid, start, queue, wait_s, tenant="acme"):
    """an inbound call queued on queue, answered after wait_s, ended and
    dispositioned"""
    def at(sec):
        h, m, s_ = (int(x) for x in start.split(":"))
        t = h * 3600 + m * 60 + s_ + sec
        return "2026-01-15T%02d:%02d:%02dZ" % (t // 3600, t // 60 % 60, t % 60)
    return [
        call("call.started", cid, at(0), tenant=tenant, direction="inbound"),
        call("call.queued", cid, at(1), tenant=tenant, queue_id=queue),
        call("call.connected", cid, at(1 + wait_s), tenant=tenant, agent_id="a1",
             queue_id=queue, wait_ms=wait_s * 1000),
        call("call.ended", cid, at(100 + wait_s), tenant=tenant, direction="inbound",
             agent_id="a1", queue_id=queue, talk_ms=99000),
        call("call.dispositioned", cid, at(120 + wait_s), tenant=tenant,
             disposition="not_interested", agent_id="a1", wrapup_ms=10000),
    ]


def service_level():
    """Per-queue service levels (routing.queue_configured's service_level_s):
    acme qa 30 s; qb 10 s, then 45 s from 15:00 UTC (that change last in the
    log: the threshold goes by event time, not by arrival); qn configured
    without one (the default, 20 s); qc never configured (20 s); globex qa
    5 s (a queue is its tenant's); acme qa's configuration repeated, and one
    of 1 s dated in February (after every call: it changes none)."""
    cfg = [queue_cfg("qa", "2026-01-10T00:00:00Z", service_level_s=30),
           queue_cfg("qb", "2026-01-10T00:00:00Z", service_level_s=10),
           queue_cfg("qn", "2026-01-10T00:00:00Z"),
           queue_cfg("qa", "2026-01-10T00:00:00Z", tenant="globex", service_level_s=5),
           queue_cfg("qa", "2026-02-01T00:00:00Z", service_level_s=1)]
    change = queue_cfg("qb", "2026-01-15T15:00:00Z", service_level_s=45)
    calls_ = (sl_call("s1", "14:00:00", "qa", 25)      # in (30; the default: out)
              + sl_call("s2", "14:05:00", "qa", 35)    # out
              + sl_call("s3", "14:10:00", "qb", 8)     # in (10)
              + sl_call("s4", "14:15:00", "qb", 15)    # out (10; the default: in)
              + sl_call("s5", "15:10:00", "qb", 40)    # in (45 from 15:00)
              + sl_call("s6", "14:20:00", "qn", 15)    # in (20)
              + sl_call("s7", "14:25:00", "qn", 25)    # out
              + sl_call("s8", "14:30:00", "qc", 20)    # in (20: at most)
              + sl_call("s9", "14:35:00", "qc", 21)    # out
              + sl_call("s10", "14:40:00", "qa", 6, tenant="globex"))  # out (5)
    head = ["service_level: answered_in_sl by each queue's threshold in force at",
            "the call's start (routing.queue_configured's service_level_s); see",
            "service_level() in tests/cli/gen_analytics_golden.py for each call"]
    write("service_level", head,
          tenants() + cfg + [cfg[0]] + calls_ + [change])


def live_calls():
    """live_calls, the calls in progress: acme on the 17th (New York).
    w1 waits in q1 (its queued before its started, repeated); r1 was offered
    to a1 then to a2 (a2's offer first in the log): a2's phone rings; t1
    talks to a1 (its connected before its offer); e1 ended (a connected of
    it after its end changes nothing); ab1 was abandoned; o1 is an outbound
    call a3 placed; d1 is only a late disposition (no row); x1 started on
    the 15th and never ended: forgotten at analytics.call_open_max_s
    (conf: 3600 s) once event time (the clocks, hours later) passes it;
    globex's gw1 waits in qg."""
    D = "2026-01-17T"
    x1 = [call("call.started", "x1", "2026-01-15T10:00:00Z", direction="inbound"),
          call("call.queued", "x1", "2026-01-15T10:00:01Z", queue_id="q1")]
    w1q = call("call.queued", "w1", D + "14:00:05Z", queue_id="q1", campaign_id="k1")
    w1 = [w1q, call("call.started", "w1", D + "14:00:00Z", direction="inbound"), w1q]
    r1 = [call("call.started", "r1", D + "14:01:00Z", direction="inbound"),
          call("call.queued", "r1", D + "14:01:01Z", queue_id="q1"),
          call("call.offered", "r1", D + "14:01:40Z", agent_id="a2", queue_id="q1"),
          call("call.offered", "r1", D + "14:01:20Z", agent_id="a1", queue_id="q1")]
    t1 = [call("call.started", "t1", D + "14:02:00Z", direction="inbound"),
          call("call.queued", "t1", D + "14:02:01Z", queue_id="q2"),
          call("call.connected", "t1", D + "14:02:10Z", agent_id="a1", queue_id="q2",
               wait_ms=9000),
          call("call.offered", "t1", D + "14:02:05Z", agent_id="a1", queue_id="q2")]
    e1c = call("call.connected", "e1", D + "14:03:10Z", agent_id="a4", queue_id="q1")
    e1 = [call("call.started", "e1", D + "14:03:00Z", direction="inbound"),
          call("call.queued", "e1", D + "14:03:01Z", queue_id="q1"), e1c,
          call("call.ended", "e1", D + "14:05:00Z", direction="inbound", agent_id="a4",
               queue_id="q1", talk_ms=110000), e1c]
    ab1 = [call("call.started", "ab1", D + "14:04:00Z", direction="inbound"),
           call("call.queued", "ab1", D + "14:04:01Z", queue_id="q2"),
           call("call.abandoned", "ab1", D + "14:04:31Z", queue_id="q2", wait_ms=30000)]
    o1 = [call("call.started", "o1", D + "14:06:00Z", direction="outbound", agent_id="a3",
               campaign_id="k2")]
    d1 = [call("call.dispositioned", "d1", D + "14:07:00Z", disposition="sale",
               agent_id="a1")]
    gw1 = [call("call.started", "gw1", D + "14:08:00Z", tenant="globex", direction="inbound"),
           call("call.queued", "gw1", D + "14:08:02Z", tenant="globex", queue_id="qg")]
    # tenants: acme renamed, then its tenant.created repeated (a duplicate:
    # the name stays); globex moves to London and euros
    tn = tenants()
    settings = [ev("tenant.settings_changed", "acme", "2026-01-02T00:00:00Z",
                   {"changed_fields": ["display_name"], "display_name": "Acme Corp"}),
                tn[0],
                ev("tenant.settings_changed", "globex", "2026-01-02T00:00:00Z",
                   {"changed_fields": ["time_zone", "currency"], "time_zone": "Europe/London",
                    "currency": "EUR"}, tenant="globex")]
    head = ["live_calls: the calls in progress (waiting, ringing, talking, started)",
            "and none for ended, abandoned or forgotten ones; tenants' settings",
            "changed and repeated; see live_calls() in",
            "tests/cli/gen_analytics_golden.py; conf: call_open_max_s 3600"]
    write("live_calls", head, tn + settings + x1 + w1 + r1 + t1 + e1 + ab1 + o1 + d1
          + gw1 + clocks("call.ivr_step", "call_id", day="2026-01-17"))


calls()
agents()
leads()
campaigns()
messages()
service_level()
live_calls()
