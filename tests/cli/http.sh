#!/usr/bin/env bash
# The HTTP server of `switchboard up`: health and metrics, JSON errors,
# pipelined requests answered in order, keep-alive, limits (413, 431, 400),
# slow clients (408), idle connections closed, and readiness that follows
# PostgreSQL going away and coming back.
. "$(dirname "$0")/lib.sh"
start_up --partitions 2 --http-listen 127.0.0.1:0 --set http.max_body=1024 \
  --set http.request_timeout_ms=500 --set http.idle_timeout_ms=800
[ -n "$url" ] || fail "no http line"
grep -qx "http = $url" "$dd/runtime.conf" || fail "runtime.conf lacks the http url"
port=${url##*:}

# ready once Kafka and PostgreSQL answer
for _ in $(seq 1 50); do
  curl -s "$url/v1/health" | grep -q '"status":"ready"' && break
  sleep 0.2
done
curl -s -i "$url/v1/health" >"$work/h" || fail "curl health"
grep -q '^HTTP/1.1 200' "$work/h" || fail "health not 200: $(cat "$work/h")"
grep -q '"kafka":"ok","postgres":"ok"' "$work/h" || fail "health body: $(cat "$work/h")"
curl -s "$url/metrics" >"$work/m"
grep -q '^switchboard_ready 1$' "$work/m" || fail "metrics: not ready"
grep -q '^switchboard_events_processed_total{processor="audit"} ' "$work/m" ||
  fail "metrics lack the audit processor's counter"
# an event through ingest and the audit processor shows in every family
tok=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
curl -s -o /dev/null -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  --data '{"specversion":"1.0","type":"lead.created","source":"crm://t","subject":"m-1","time":"'"$(date -u +%FT%TZ)"'","data":{"lead_source":"web_form"}}' \
  "$url/v1/events"
curl -s -o /dev/null -H 'Content-Type: application/json' --data '{}' "$url/v1/events"
for _ in $(seq 1 150); do
  curl -s "$url/metrics" >"$work/m"
  grep -q '^switchboard_events_processed_total{processor="audit"} [1-9]' "$work/m" &&
    grep -q '^switchboard_consumer_lag{processor="audit",topic="sb.leads",partition="[0-9]*"} 0$' "$work/m" &&
    break
  sleep 0.2
done
for want in 'switchboard_ingest_events_total{result="accepted"} 1' \
  'switchboard_ingest_rejected_total{reason="missing"} 1' \
  'switchboard_ingest_produce_seconds_count 1' \
  'switchboard_batch_events_count{processor="audit"} [1-9]' \
  'switchboard_commit_seconds_count{processor="audit"} [1-9]' \
  'switchboard_consumer_lag{processor="audit",topic="sb.leads",partition="[0-9]*"} 0' \
  'switchboard_ws_clients 0'; do
  grep -q "^$want" "$work/m" || fail "metrics lack '$want'"
done
curl -s -i "$url/nope" | grep -q '^HTTP/1.1 404' || fail "unknown path not 404"
curl -s "$url/nope" | grep -q '"code":"not_found"' || fail "404 body is not JSON"
curl -s -i -X POST "$url/v1/health" >"$work/405"
grep -q '^HTTP/1.1 405' "$work/405" || fail "wrong method not 405"
grep -qi '^Allow: GET' "$work/405" || fail "405 without Allow"

# raw: send text on one connection, collect what comes back (bounded)
raw() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf "$1" >&3
  timeout "${2:-3}" cat <&3 >"$work/raw" || true
  exec 3<&- 3>&-
}

# pipelining: three requests in one write, three answers in order
raw 'GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
[ "$(grep -a '^HTTP/1.1' "$work/raw" | cut -d' ' -f2 | tr -d '\r' | tr '\n' ' ')" = "200 404 200 " ] ||
  fail "pipelined answers out of order: $(grep -a '^HTTP' "$work/raw")"

# HEAD: a head without a body, so the next answer on the connection is whole
raw 'HEAD /v1/health HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
[ "$(grep -a '^HTTP/1.1' "$work/raw" | cut -d' ' -f2 | tr -d '\r' | tr '\n' ' ')" = "405 200 " ] ||
  fail "HEAD then GET: $(cat "$work/raw")"
[ "$(grep -ac '"error"' "$work/raw")" = 0 ] || fail "HEAD answered with a body"

# keep-alive: two requests, one connection
[ "$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$url/v1/health" "$url/metrics" | tr '\n' ' ')" = "1 0 " ] ||
  fail "keep-alive: a second connection was opened"

# limits
head -c 2000 /dev/zero | tr '\0' a >"$work/big"
curl -s -i -X POST --data-binary @"$work/big" "$url/v1/health" | grep -q '^HTTP/1.1 413' ||
  fail "a body over http.max_body is not 413"
long=$(head -c 20000 /dev/zero | tr '\0' b)
curl -s -i -H "X-Long: $long" "$url/v1/health" | grep -q '^HTTP/1.1 431' ||
  fail "20 kB of headers is not 431"
raw 'GARBAGE\r\n\r\n'
grep -aq '^HTTP/1.1 400' "$work/raw" || fail "malformed request not 400: $(cat "$work/raw")"
grep -aq 'malformed HTTP' "$work/raw" || fail "400 does not say why"

# a slow client: half a request, then nothing: 408 and closed
raw 'GET /v1/health HTTP/1.1\r\nHo' 3
grep -aq '^HTTP/1.1 408' "$work/raw" || fail "slow client not answered 408: $(cat "$work/raw")"
# an idle keep-alive connection is closed (cat returns before its timeout)
exec 3<>"/dev/tcp/127.0.0.1/$port"
start=$SECONDS
timeout 5 cat <&3 >/dev/null || fail "idle connection not closed within 5 s"
exec 3<&- 3>&-
[ $((SECONDS - start)) -le 3 ] || fail "idle connection closed too late"

# readiness follows PostgreSQL
"$SB" postgres stop --data-dir "$dd" >/dev/null || fail "cannot stop postgres"
for _ in $(seq 1 50); do
  curl -s "$url/v1/health" | grep -q '"status":"unavailable"' && break
  sleep 0.2
done
curl -s -i "$url/v1/health" >"$work/h"
grep -q '^HTTP/1.1 503' "$work/h" || fail "health not 503 with PostgreSQL down: $(cat "$work/h")"
grep -qi '^Retry-After: ' "$work/h" || fail "503 without Retry-After"
grep -q '"kafka":"ok"' "$work/h" || fail "kafka reported down: $(cat "$work/h")"
"$SB" postgres start --data-dir "$dd" >/dev/null || fail "cannot restart postgres"
for _ in $(seq 1 50); do
  curl -s "$url/v1/health" | grep -q '"status":"ready"' && break
  sleep 0.2
done
curl -s "$url/v1/health" | grep -q '"status":"ready"' || fail "not ready again after PostgreSQL returned"

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "http: all checks passed"
