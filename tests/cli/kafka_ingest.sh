#!/usr/bin/env bash
# CloudEvents written straight to Kafka (sb.ingest, issue 17): a binary-mode
# record (ce_* headers, JSON data) and a structured JSON one are validated
# as HTTP ingest validates them and produced to sb.leads with the
# CloudEvents Kafka binding's headers; the same event written again is a
# duplicate, not produced twice; a record the schema refuses, one that is
# not JSON, one naming no tenant and one without id go to sb.deadletter with the reason and
# where they came from; after a restart nothing is taken twice.
. "$(dirname "$0")/lib.sh"
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
now=$(date -u +%FT%TZ)

put() { # put VALUE HEADER... : one record on sb.ingest
  local v=$1 args=()
  shift
  for h in "$@"; do args+=(-H "$h"); done
  printf '%s' "$v" | timeout 20 kcat -P -b "$kafka" -t sb.ingest "${args[@]}" ||
    fail "kcat -P failed"
}
bin=(ce_specversion=1.0 ce_source=/erp ce_type=lead.created "ce_time=$now" ce_tenantid=acme
  content-type=application/json)
put '{"lead_source":"web_form"}' "${bin[@]}" ce_id=k-1 ce_subject=lead-k1
put '{"specversion":"1.0","id":"k-2","source":"/erp","type":"lead.created","subject":"lead-k2","time":"'"$now"'","tenantid":"acme","data":{"lead_source":"web_form"}}' \
  content-type=application/cloudevents+json
put '{"lead_source":"carrier_pigeon"}' "${bin[@]}" ce_id=k-3 ce_subject=lead-k3
put 'hello' content-type=application/cloudevents+json
put '{"lead_source":"web_form"}' ce_specversion=1.0 ce_source=/erp ce_type=lead.created \
  "ce_time=$now" ce_id=k-5 ce_subject=lead-k5 content-type=application/json
put '{"lead_source":"web_form"}' "${bin[@]}" ce_id=k-1 ce_subject=lead-k1 # again
put '{"specversion":"1.0","source":"/erp","type":"lead.created","subject":"lead-k7","time":"'"$now"'","tenantid":"acme","data":{"lead_source":"web_form"}}'

count() { timeout 20 kcat -C -b "$kafka" -t "$1" -e -q -f '%o\n' 2>/dev/null | wc -l; }
for _ in $(seq 1 150); do
  [ "$(count sb.leads)" -ge 2 ] && [ "$(count sb.deadletter)" -ge 4 ] && break
  sleep 0.2
done
sleep 1 # a second copy of k-1 would be here by now
[ "$(count sb.leads)" -eq 2 ] || fail "sb.leads holds $(count sb.leads) records, want 2"
[ "$(count sb.deadletter)" -eq 4 ] || fail "sb.deadletter holds $(count sb.deadletter), want 4"

timeout 20 kcat -C -b "$kafka" -t sb.leads -e -q -f '%k|%h\n' >"$work/leads" 2>/dev/null
grep -q '^acme:lead-k1|.*ce_id=k-1,.*ce_source=/erp' "$work/leads" ||
  fail "binary-mode record: $(cat "$work/leads")"
grep -q '^acme:lead-k2|.*ce_id=k-2,' "$work/leads" || fail "structured record: $(cat "$work/leads")"
grep -q 'content-type=application/avro' "$work/leads" || fail "no content-type: $(cat "$work/leads")"
timeout 20 kcat -C -b "$kafka" -t sb.deadletter -e -q -f '%h\n' >"$work/dl" 2>/dev/null
grep 'ce_id=k-3' "$work/dl" | grep -q 'sb-error=data.lead_source: .carrier_pigeon. is not one of' ||
  fail "refused record: $(cat "$work/dl")"
grep 'ce_id=k-3' "$work/dl" | grep -q 'sb-source-topic=sb.ingest,sb-source-partition=[0-9],sb-source-offset=[0-9]*,sb-error-class=invalid' ||
  fail "provenance: $(cat "$work/dl")"
grep -q 'sb-error=not JSON' "$work/dl" || fail "not JSON: $(cat "$work/dl")"
grep 'ce_id=k-5' "$work/dl" | grep -q 'sb-error=tenantid: required on sb.ingest' ||
  fail "no tenant: $(cat "$work/dl")"
grep -q 'sb-error=id: required on sb.ingest' "$work/dl" || fail "no id: $(cat "$work/dl")"

# the offsets were committed: a restart takes nothing again
stop_up
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
put '{"lead_source":"web_form"}' "${bin[@]}" ce_id=k-6 ce_subject=lead-k6
for _ in $(seq 1 150); do
  [ "$(count sb.leads)" -ge 3 ] && break
  sleep 0.2
done
sleep 1
[ "$(count sb.leads)" -eq 3 ] || fail "after a restart sb.leads holds $(count sb.leads), want 3"
[ "$(count sb.deadletter)" -eq 4 ] || fail "after a restart sb.deadletter holds $(count sb.deadletter), want 4"
echo ok
