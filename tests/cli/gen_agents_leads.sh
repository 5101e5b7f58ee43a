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
while getopts n:p:t:s:d:k:o: opt; do
  case $opt in
  n) n=$OPTARG ;;
  p) prefix=$OPTARG ;;
  t) tenants=$OPTARG ;;
  s) start=$OPTARG ;;
  d) step=$OPTARG ;;
  k) subjects=$OPTARG ;;
  o) first=$OPTARG ;;
  *) echo "usage: gen_agents_leads.sh [-n N] [-p PREFIX] [-t T,T] [-s START] [-d STEP] [-k K] [-o FIRST]" >&2
     exit 2 ;;
  esac
done
[[ $prefix =~ ^[0-9A-HJKMNP-TV-Z]{4}$ ]] || { echo "gen_agents_leads.sh: bad prefix '$prefix'" >&2; exit 2; }

awk -v n="$n" -v prefix="$prefix" -v tenants="$tenants" -v start="$start" \
  -v step="$step" -v k="$subjects" -v first="$first" '
function civil(days,   z, era, doe, yoe, y, doy, mp, d, m) {
  z = days + 719468
  era = int(z / 146097)
  doe = z - era * 146097
  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
  y = yoe + era * 400
  doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
  mp = int((5 * doy + 2) / 153)
  d = doy - int((153 * mp + 2) / 5) + 1
  m = mp < 10 ? mp + 3 : mp - 9
  if (m <= 2) y++
  return sprintf("%04d-%02d-%02d", y, m, d)
}
function rfc3339(us,   s, frac, days, rem) {
  s = int(us / 1000000); frac = us - s * 1000000
  days = int(s / 86400); rem = s - days * 86400
  return sprintf("%sT%02d:%02d:%02d.%06dZ", civil(days), int(rem / 3600),
                 int((rem % 3600) / 60), rem % 60, frac)
}
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
