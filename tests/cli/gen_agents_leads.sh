#!/usr/bin/env bash
# Writes CloudEvents NDJSON for the routing processor's tests, on stdout:
# agents logging in, pausing, coming back and logging out; calls offered to
# them, connected, ended (naming a lead) and mostly dispositioned; leads
# created, changing status and campaign; replies from leads. Same options
# as gen_events.sh:
#
#   gen_agents_leads.sh [-n COUNT] [-p PREFIX] [-t TENANTS] [-s START] [-d STEP]
#                  [-k SUBJECTS] [-o FIRST]
#
# Event i is the same whatever COUNT is (chunks with -o). A call's events
# are consecutive numbers of one tenant (offered, connected, ended,
# dispositioned), so they stay in order; an agent's are its own.
set -euo pipefail
n=1000 prefix=AAAA tenants=acme,globex start=1768003200 step=60
subjects=40 first=0
. "$(dirname "$0")/gen_lib.sh"
gen_options "$@"


gen_awk '
BEGIN {
  nt = split(tenants, tn, ",")
  split("web_form,referral,google_ads,import,partner", src, ",")
  split("contacted,working,qualified,lost", sts, ",")
  for (i = first; i < first + n; i++) {
    tenant = tn[i % nt + 1]
    j = int(i / nt)            # this tenant event number
    block = int(j / 10)        # ten events a block
    slot = j % 10
    num = block % k
    agent = "agent-" block % 6
    call = "call-" block
    lead = "lead-" num
    us = (start + i * step) * 1000000 + (i * 7919) % 1000000
    id = sprintf("01%s%020d", prefix, i)
    if (slot == 0) { type = "agent.logged_in"; subj = agent
      data = "{\"skills\":[\"sales:" 1 + block % 5 "\"],\"queue_ids\":[\"q-" block % 2 "\"],\"capacity\":1}" }
    else if (slot == 1) { type = "lead.created"; subj = lead
      data = "{\"lead_source\":\"" src[block % 5 + 1] "\",\"status\":\"new\",\"estimated_value_cents\":" (block % 7) * 30000 ",\"phone\":\"+1555000" sprintf("%04d", num) "\"}" }
    else if (slot == 2) { type = "call.offered"; subj = call
      data = "{\"agent_id\":\"" agent "\"}" }
    else if (slot == 3) { type = "call.connected"; subj = call
      data = "{\"agent_id\":\"" agent "\"}" }
    else if (slot == 4) { type = "call.ended"; subj = call
      data = "{\"agent_id\":\"" agent "\",\"lead_id\":\"" lead "\",\"talk_ms\":" (block % 3) * 60000 "}" }
    else if (slot == 5) { type = "lead.status_changed"; subj = lead
      data = "{\"status\":\"" sts[block % 4 + 1] "\"}" }
    else if (slot == 6) {
      if (block % 4 == 3) { type = "agent.state_changed"; subj = agent
        data = "{\"state\":\"paused\",\"pause_reason\":\"break\"}" }
      else { type = "call.dispositioned"; subj = call
        data = "{\"agent_id\":\"" agent "\",\"disposition\":\"interested\"}" } }
    else if (slot == 7) { type = "message.inbound"; subj = "msg-" i
      data = "{\"channel\":\"sms\",\"from_address\":\"+1555000" sprintf("%04d", num) "\",\"lead_id\":\"" lead "\"}" }
    else if (slot == 8) { type = "lead.updated"; subj = lead
      data = "{\"changed_fields\":[\"campaign_id\"],\"campaign_id\":\"camp-" block % 3 "\"}" }
    else if (block % 5 == 4) { type = "agent.logged_out"; subj = agent; data = "{}" }
    else { type = "agent.state_changed"; subj = agent
      data = "{\"state\":\"available\"}" }
    printf "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\",\"source\":\"/tests/gen\",\"subject\":\"%s\",\"time\":\"%s\",\"tenantid\":\"%s\",\"data\":%s}\n",
      id, type, subj, rfc3339(us), tenant, data
  }
}'
