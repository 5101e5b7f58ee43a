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
while getopts n:p:t:s:d:k:o: opt; do
  case $opt in
  n) n=$OPTARG ;; p) prefix=$OPTARG ;; t) tenants=$OPTARG ;;
  s) start=$OPTARG ;; d) step=$OPTARG ;; k) subjects=$OPTARG ;;
  o) first=$OPTARG ;;
  *) echo "usage: gen_consent.sh [-n N] [-p PREFIX] [-t T,T] [-s START] [-d STEP] [-k K] [-o FIRST]" >&2
     exit 2 ;;
  esac
done
[[ $prefix =~ ^[0-9A-HJKMNP-TV-Z]{4}$ ]] || { echo "gen_consent.sh: bad prefix '$prefix'" >&2; exit 2; }

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
