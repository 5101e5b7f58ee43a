#!/usr/bin/env bash
# The embedded broker's journal bound (issue 10, item 2): past
# embedded.partition_max_bytes a partition is full, and what is sent to it
# is not acknowledged: ingest answers 503 naming the bound, `up` logs an
# ERROR naming the partition, other partitions go on being acknowledged,
# and a restart restores exactly what was acknowledged.
. "$(dirname "$0")/lib.sh"
start_up --partitions 1 --processors none --set embedded.partition_max_bytes=1048576
tok=$("$SB" token --data-dir "$dd" --tenant acme --role manager)

# post TYPE N NAME: N events of TYPE in one NDJSON post; prints the status
post() {
  local type=$1 n=$2 name=$3 i data
  case $type in
  lead.created) data='{"lead_source":"web_form"}' ;;
  agent.logged_in) data='{}' ;;
  esac
  for i in $(seq 1 "$n"); do
    printf '{"specversion":"1.0","type":"%s","source":"crm://f","subject":"%s-%d","time":"%s","data":%s}\n' \
      "$type" "$name" "$i" "$(date -u +%FT%TZ)" "$data"
  done >"$work/body"
  curl -s --max-time 60 -o "$work/post.out" -w '%{http_code}' \
    -H "Authorization: Bearer $tok" -H 'Content-Type: application/x-ndjson' \
    --data-binary @"$work/body" "$url/v1/events"
}

acked=0 full=
for b in $(seq 1 40); do # 1 MiB is ~3,500 of these events: well within 40 x 400
  code=$(post lead.created 400 "f$b")
  case $code in
  202) acked=$((acked + 400)) ;;
  207 | 503) full=$code; break ;;
  *) fail "post $b: $code $(head -c 300 "$work/post.out")" ;;
  esac
done
[ -n "$full" ] || fail "sb.leads[0] never filled past 1 MiB"
grep -q 'embedded.partition_max_bytes (1048576 bytes)' "$work/post.out" ||
  fail "the answer does not name the bound: $(head -c 400 "$work/post.out")"
grep -q '"status":503' "$work/post.out" || fail "items not 503: $(head -c 300 "$work/post.out")"
part=$(grep -o '"index":[0-9]*,"id"' "$work/post.out" | wc -l) # accepted in the last post
acked=$((acked + part))
grep 'ERROR' "$work/up.err" | grep -q "partition is full.*topic=sb.leads partition=0" ||
  fail "no ERROR naming the full partition"
[ "$(post lead.created 1 after)" = 503 ] || fail "a full partition took more"
# another partition is not full
[ "$(post agent.logged_in 5 agent)" = 202 ] || fail "sb.agents refused: $(head -c 300 "$work/post.out")"
stop_up

# the restart brings back what was acknowledged (and the partition is
# still full: the bound is of the journal)
start_up --partitions 1 --processors none --set embedded.partition_max_bytes=1048576
n=$(timeout 20 kcat -C -b "$kafka" -t sb.leads -e -q -f '.\n' | wc -l)
[ "$n" -eq "$acked" ] || fail "$n records in sb.leads after the restart, $acked acknowledged"
[ "$(post lead.created 1 later)" = 503 ] || fail "full partition took more after the restart"
stop_up
echo "ok: sb.leads[0] full after $acked events, 503 naming the bound; restored on restart"
