#!/usr/bin/env bash
# CloudEvents as the ecosystem speaks them (issue 17): the official
# CloudEvents JavaScript SDK (npm cloudevents, pinned with its lock file in
# tests/npm, installed by tests/npm/install.sh) posts in structured,
# binary and batch modes against a running `up`; every event is accepted,
# every retry is a duplicate, the WebSocket feed (npm ws) gives each event
# once with the producer's id; then the SDK's Kafka binding (Kafka.toEvent)
# reads our topics (kcat -J) and finds the same events as the feed.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (Debian: apt-get install nodejs npm; scripts/deps.sh)"

# the SDK, pinned in tests/npm with the other interop clients: installed
# once per lock file under the build's folder
npmdir=$("$root/tests/npm/install.sh" "${SB_NPM_DIR:-$work/npm}") ||
  fail "cannot install the pinned npm packages (tests/npm)"
export NODE_PATH=$npmdir/node_modules

start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
token=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub crm-1)

node "$here/ce_sdk/http_feed.js" "$url" "$token" "$work/feed.jsonl" 2>"$work/http.err" ||
  fail "the SDK over HTTP: $(cat "$work/http.err")"
[ "$(wc -l <"$work/feed.jsonl")" -eq 5 ] || fail "feed: $(cat "$work/feed.jsonl")"

# the records as Kafka holds them, read with the SDK's Kafka binding
timeout 30 kcat -C -b "$kafka" -t sb.leads -e -q -J >"$work/leads.jsonl" 2>"$work/kcat.err" ||
  fail "kcat: $(cat "$work/kcat.err")"
[ "$(wc -l <"$work/leads.jsonl")" -eq 5 ] ||
  fail "sb.leads holds $(wc -l <"$work/leads.jsonl") records, want 5 (retries produced again?)"
node "$here/ce_sdk/kafka_read.js" "$work/feed.jsonl" <"$work/leads.jsonl" 2>"$work/kafka.err" ||
  fail "the SDK's Kafka binding: $(cat "$work/kafka.err")"

# by hand: the binding's refusals over HTTP name the header
post() { # post EXPECTED_STATUS TEXT CURL_ARGS...
  local want=$1 text=$2 s
  shift 2
  s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" "$@" "$url/v1/events")
  [ "$s" = "$want" ] || fail "status $s, want $want: $(cat "$work/body")"
  grep -qF -- "$text" "$work/body" || fail "answer lacks '$text': $(cat "$work/body")"
}
now=$(date -u +%FT%TZ)
bin=(-H 'ce-specversion: 1.0' -H 'ce-type: lead.created' -H "ce-time: $now" -H 'ce-subject: lead-h')
post 400 'ce-source: missing required attribute' "${bin[@]}" -H 'ce-id: h-1' \
  -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
post 400 'ce-id: not a valid value' "${bin[@]}" -H 'ce-id: 100%' -H 'ce-source: /x' \
  -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
post 415 'content-type text/plain' "${bin[@]}" -H 'ce-id: h-2' -H 'ce-source: /x' \
  -H 'Content-Type: text/plain' --data 'hello'
post 400 "id: 257 bytes; at most 256" "${bin[@]}" -H "ce-id: $(printf 'x%.0s' $(seq 257))" \
  -H 'ce-source: /x' -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
post 400 'data.lead_source' "${bin[@]}" -H 'ce-id: h-3' -H 'ce-source: /x' \
  -H 'Content-Type: application/json' --data '{"lead_source":"carrier_pigeon"}'
# the same id from another source is another event; from the same, a duplicate
post 202 '"id":"h-4"' "${bin[@]}" -H 'ce-id: h-4' -H 'ce-source: /a' \
  -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
post 202 '"id":"h-4"' "${bin[@]}" -H 'ce-id: h-4' -H 'ce-source: /b' \
  -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
grep -q duplicate "$work/body" && fail "another source's id was a duplicate: $(cat "$work/body")"
post 202 '"duplicate":true' -H 'Content-Type: application/cloudevents+json' \
  --data '{"specversion":"1.0","id":"h-4","source":"/a","type":"lead.created","subject":"lead-h","time":"'"$now"'","data":{"lead_source":"web_form"}}'
echo "ok"
