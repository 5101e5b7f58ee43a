#!/usr/bin/env bash
# Writes valid CloudEvents NDJSON for the command-line tests, on stdout.
#
#   gen_events.sh [-n COUNT] [-p PREFIX] [-t TENANTS] [-s START] [-d STEP]
#                 [-k SUBJECTS] [-o FIRST]
#
#   -n COUNT     events to write (default 1000)
#   -p PREFIX    4 Crockford base32 characters (0-9, A-Z but I L O U) that
#                start the ids after "01": ids are 01PPPP then the event's
#                number in 20 digits, so they are unique per prefix and
#                greppable (default AAAA)
#   -t TENANTS   comma list of tenant ids, used round robin (default
#                acme,globex,initech)
#   -s START     time of event 0, seconds since the epoch (default
#                2026-01-10T00:00:00Z)
#   -d STEP      seconds between consecutive events (default 3600: 2,000
#                events span three months), plus a sub-second part
#   -k SUBJECTS  distinct subjects per tenant and kind (default 40)
#   -o FIRST     number of the first event (default 0), to continue a stream
#
# Twelve event types over six topics (leads, calls, agents, messages,
# compliance with data subject requests, campaigns), some with an actor and a correlation id, times with
# microseconds. Event i is the same whatever COUNT is, so a stream can be
# written in chunks with -o.
set -euo pipefail
n=1000 prefix=AAAA tenants=acme,globex,initech start=1768003200 step=3600
subjects=40 first=0
. "$(dirname "$0")/gen_lib.sh"
gen_options "$@"


gen_awk '
BEGIN {
  nt = split(tenants, tn, ",")
  for (i = first; i < first + n; i++) {
    tenant = tn[i % nt + 1]
    kind = int(i / nt) % 10
    num = int(i / (nt * 10)) % k
    us = (start + i * step) * 1000000 + (i * 7919) % 1000000
    id = sprintf("01%s%020d", prefix, i)
    ext = ""
    if (i % 3 == 0) ext = ext ",\"actoruserid\":\"user-" i % 17 "\",\"actorrole\":\"agent\""
    if (i % 4 == 0) ext = ext ",\"correlationid\":\"corr-" int(i / 4) "\""
    if (kind == 0) { type = "lead.created"; subj = "lead-" num
      data = "{\"status\":\"new\",\"lead_source\":\"web_form\",\"first_name\":\"Ann\",\"email\":\"ann" i "@example.com\",\"tags\":[\"hot\",\"q1\"],\"priority\":" i % 5 ",\"estimated_value_cents\":" i * 100 ",\"currency\":\"USD\"}" }
    else if (kind == 1) { type = "lead.status_changed"; subj = "lead-" num
      data = "{\"status\":\"contacted\",\"previous_status\":\"new\"}" }
    else if (kind == 2) { type = "call.started"; subj = "call-" num
      data = "{\"direction\":\"inbound\",\"from_number\":\"+1555000" sprintf("%04d", i % 10000) "\",\"lead_id\":\"lead-" num "\"}" }
    else if (kind == 3) { type = "call.ended"; subj = "call-" num
      data = "{\"end_reason\":\"customer_hangup\",\"duration_ms\":" (i % 600) * 1000 "}" }
    else if (kind == 4) { type = "agent.state_changed"; subj = "agent-" num % 7
      data = "{\"state\":\"available\",\"previous_state\":\"offline\"}" }
    else if (kind == 5) { type = "message.requested"; subj = "msg-" i
      data = "{\"channel\":\"sms\",\"to_address\":\"+15551234567\",\"body\":\"Hello \\\"there\\\"\\n\\tline two \\u00e9\"}" }
    else if (kind == 6) { type = "consent.given"; subj = "lead-" num
      data = "{\"purpose\":\"marketing\",\"channel\":\"sms\"}" }
    else if (kind == 7) { type = "campaign.spend_recorded"; subj = "camp-" num % 3
      data = "{\"amount_cents\":" 100 + i % 900 ",\"currency\":\"USD\"}" }
    else if (kind == 8) { type = "lead.updated"; subj = "lead-" num
      data = "{\"changed_fields\":[\"campaign_id\"],\"campaign_id\":\"camp-" num % 3 "\"}" }
    else if (num % 4 == 1) { type = "dsar.received"; subj = "lead-" num
      data = "{\"request_id\":\"r-" num "\",\"kind\":\"access\"}" }
    else if (num % 4 == 3) { type = "dsar.completed"; subj = "lead-" num - 2
      data = "{\"request_id\":\"r-" num - 2 "\",\"kind\":\"access\",\"outcome\":\"fulfilled\",\"records_count\":" i % 50 "}" }
    else { type = "agent.logged_in"; subj = "agent-" num % 7; data = "{}" }
    printf "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\",\"source\":\"/tests/gen\",\"subject\":\"%s\",\"time\":\"%s\",\"tenantid\":\"%s\"%s,\"data\":%s}\n",
      id, type, subj, rfc3339(us), tenant, ext, data
  }
}'
