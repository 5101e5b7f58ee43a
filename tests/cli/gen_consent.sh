#!/usr/bin/env bash
# Writes CloudEvents NDJSON of consent and do-not-call events for the
# compliance processor's tests, on stdout; the same options as
# gen_events.sh (-n COUNT -p PREFIX -t TENANTS -s START -d STEP -k SUBJECTS
# -o FIRST), event i the same whatever COUNT is.
#
# Six kinds in turn per tenant: consent.given for every channel, for sms;
# consent.withdrawn for sms (every fourth a day older than its neighbours:
# out of order), message.opt_out on sms naming the lead, lead.dnc_flagged
# for voice, consent.withdrawn for every channel. Addresses come in clear
# (+1555NNNNNNN, leadN@example.com, N from the subject's number): import
# seals them and computes their match HMACs, as ingest does.
set -euo pipefail
n=1000 prefix=CCCC tenants=acme,globex,initech start=1768003200 step=3600
subjects=40 first=0
. "$(dirname "$0")/gen_lib.sh"
gen_options "$@"


gen_awk '
BEGIN {
  nt = split(tenants, tn, ",")
  for (i = first; i < first + n; i++) {
    tenant = tn[i % nt + 1]
    kind = int(i / nt) % 6
    num = int(i / (nt * 6)) % k
    us = (start + i * step) * 1000000 + (i * 7919) % 1000000
    id = sprintf("01%s%020d", prefix, i)
    lead = "lead-" num
    phone = sprintf("+1555%07d", num + 1)
    email = sprintf("lead%d@example.com", num + 1)
    if (kind == 0) { type = "consent.given"; subj = lead
      data = "{\"purpose\":\"marketing\",\"method\":\"web_form\",\"consent_text_version\":\"v" i % 3 "\",\"phone\":\"" phone "\"}" }
    else if (kind == 1) { type = "consent.given"; subj = lead
      data = "{\"purpose\":\"marketing\",\"channel\":\"sms\",\"method\":\"sms_keyword\"}" }
    else if (kind == 2) { type = "consent.withdrawn"; subj = lead
      if (i % 4 == 0) us -= 86400 * 1000000
      data = "{\"purpose\":\"marketing\",\"channel\":\"sms\"}" }
    else if (kind == 3) { type = "message.opt_out"; subj = "msg-" i
      data = "{\"channel\":\"sms\",\"method\":\"keyword\",\"keyword\":\"STOP\",\"lead_id\":\"" lead "\",\"phone\":\"" phone "\"}" }
    else if (kind == 4) { type = "lead.dnc_flagged"; subj = lead
      data = "{\"dnc_list\":\"internal\",\"channel\":\"voice\",\"phone\":\"" phone "\",\"email\":\"" email "\"}" }
    else { type = "consent.withdrawn"; subj = lead
      data = "{\"purpose\":\"marketing\"}" }
    printf "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\",\"source\":\"/tests/gen\",\"subject\":\"%s\",\"time\":\"%s\",\"tenantid\":\"%s\",\"data\":%s}\n",
      id, type, subj, rfc3339(us), tenant, data
  }
}'
