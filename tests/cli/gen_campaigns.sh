#!/usr/bin/env bash
# Writes CloudEvents NDJSON for the campaigns processor's tests, on stdout;
# the same options as gen_events.sh (-n COUNT -p PREFIX -t TENANTS -s START
# -d STEP -k SUBJECTS -o FIRST), event i the same whatever COUNT is.
#
# Per tenant: first three campaigns (camp-0..2, New York, scheduled to
# start 30 minutes after they are created, windows every day 08:30-20:00,
# 4 attempts, 2 minutes apart), then in turn one lead.created (lead-N of
# camp-N%3, with a phone in New York, Los Angeles or London, and every
# third a time_zone of its own) and four call.dispositioned on leads
# (call ids unique; no_answer, busy, voicemail_left, sale, callback_requested
# or wrong_number). Phones come in clear: import seals them and derives
# phone_tz from the prefix, as ingest does.
set -euo pipefail
n=1000 prefix=CMCM tenants=acme,globex,initech start=1768003200 step=3600
subjects=40 first=0
. "$(dirname "$0")/gen_lib.sh"
gen_options "$@"


gen_awk '
BEGIN {
  nt = split(tenants, tn, ",")
  split("no_answer,busy,voicemail_left,sale,no_answer,callback_requested,busy,wrong_number", disp, ",")
  split("+1212555,+1310555,+4420790", phone, ",")
  split("America/Chicago,Europe/Paris,Asia/Tokyo", zone, ",")
  for (i = first; i < first + n; i++) {
    tenant = tn[i % nt + 1]
    j = int(i / nt)            # the tenant'"'"'s own sequence
    us = (start + i * step) * 1000000 + (i * 7919) % 1000000
    id = sprintf("01%s%020d", prefix, i)
    if (j < 3) {
      type = "campaign.created"; subj = "camp-" j
      data = "{\"campaign_id\":\"" subj "\",\"name\":\"Campaign " j "\",\"state\":\"scheduled\",\"starts_at\":\"" rfc3339(us + 1800000000) "\",\"ends_at\":\"2199-01-01T00:00:00Z\",\"time_zone\":\"America/New_York\",\"dial_windows\":[\"all 08:30-20:00\"],\"max_attempts\":4,\"retry_delay_seconds\":120}"
    } else if ((j - 3) % 5 == 0) {
      num = int((j - 3) / 5) % k
      type = "lead.created"; subj = "lead-" num
      tz = num % 3 == 0 ? ",\"time_zone\":\"" zone[num % 9 / 3 + 1] "\"" : ""
      data = "{\"lead_id\":\"" subj "\",\"campaign_id\":\"camp-" num % 3 "\",\"phone\":\"" phone[num % 3 + 1] sprintf("%04d", num) "\"" tz "}"
    } else {
      num = (j * 7) % k
      type = "call.dispositioned"; subj = "call-" i
      data = "{\"call_id\":\"" subj "\",\"disposition\":\"" disp[j % 8 + 1] "\",\"lead_id\":\"lead-" num "\",\"campaign_id\":\"camp-" num % 3 "\",\"agent_id\":\"agent-" j % 5 "\"}"
    }
    printf "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"%s\",\"source\":\"/tests/gen\",\"subject\":\"%s\",\"time\":\"%s\",\"tenantid\":\"%s\",\"data\":%s}\n",
      id, type, subj, rfc3339(us), tenant, data
  }
}'
