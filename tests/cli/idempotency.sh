#!/usr/bin/env bash
# Retries are safe for the whole window, whoever retries where: an event id
# is produced once per tenant across `up` restarts and `serve` replicas; a
# ULID is one id in either case; another tenant cannot evict it; an
# Idempotency-Key belongs to its tenant and principal and counts whole; a
# retry while the first attempt is in flight is told so (409), never
# "duplicate", and is produced if that attempt fails; a dead process's
# claim expires with its lease; with PostgreSQL down ingest answers 503 and
# produces nothing. Records are counted in Kafka with kcat.
. "$(dirname "$0")/lib.sh"
spids=()
cleanup_extra() {
  [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
  for p in "${spids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  return 0
}
problems=()
bad() { problems+=("$*"); echo "not ok: $*" >&2; }

start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
acme=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mgr-1)
acme2=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mgr-2)
globex=$("$SB" token --data-dir "$dd" --tenant globex --role manager --sub gx-1)

now=$(date -u +%FT%TZ) # one time for every post: inside ingest.max_past_seconds
ev() { # ev SUBJECT [ID]
  printf '{"specversion":"1.0","type":"lead.created","source":"crm://t","subject":"%s","time":"%s"%s,"data":{"lead_source":"web_form"}}' \
    "$1" "$now" "${2:+,\"id\":\"$2\"}"
}
n=0
post() { # post BASE TOKEN BODY [HEADER] -> $status, body in $work/body.$n
  n=$((n + 1))
  status=$(curl -s -m 30 -D "$work/head.$n" -o "$work/body.$n" -w '%{http_code}' \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    ${4:+-H "$4"} --data-binary "$3" "$1/v1/events" || true)
  body=$(cat "$work/body.$n" 2>/dev/null || true)
}
is_new() { [ "$status" = 202 ] && ! grep -q '"duplicate"' <<<"$body"; }
is_dup() { [ "$status" = 202 ] && grep -q '"duplicate":true' <<<"$body"; }
# records of sb.leads in Kafka whose sb-event-id is $1 (or key is $1)
records() {
  timeout 30 kcat -C -b "$kafka" -t sb.leads -e -q -f '%k %h\n' 2>/dev/null |
    grep -c -e "ce_id=$1" -e "^$1 " || true
}

# a ULID, and the same in lower case: one id
V=01JDQ7ZV3K8YQ2W5N6P7R8S9V1
post "$url" "$acme" "$(ev v "$V")"
is_new || fail "first post of $V: $status $body"
post "$url" "$acme" "$(ev v "${V,,}")"
is_dup || bad "the same ULID in lower case was not a duplicate: $status $body"
[ "$(records "$V")" = 1 ] || bad "$V is in Kafka $(records "$V") times after a lower-case retry"

# another tenant posting ids that land where $V's entry lived (crafted for
# the old 2^20-slot table) cannot evict it
for g in 01JDQ800000000000000005GYM 01JDQ800000000000000009BGV \
  01JDQ80000000000000000B38G 01JDQ80000000000000002FC7D 01JDQ800000000000000036FH9 \
  01JDQ80000000000000003JNQV 01JDQ800000000000000044PAE 01JDQ800000000000000049TE2 \
  01JDQ80000000000000004MSTB 01JDQ80000000000000004YZAT 01JDQ800000000000000051EEF \
  01JDQ80000000000000005T159 01JDQ80000000000000007170M 01JDQ80000000000000007X4EJ \
  01JDQ800000000000000087E4F 01JDQ80000000000000008KMHF; do
  post "$url" "$globex" "$(ev flood "$g")"
  [ "$status" = 202 ] || fail "globex's post: $status $body"
done
post "$url" "$acme" "$(ev v "$V")"
is_dup || bad "another tenant's ids evicted $V: $status $body"

# Idempotency-Key: per tenant and principal, and whole
k400=$(printf 'k%.0s' $(seq 1 300))$(printf 'a%.0s' $(seq 1 100))
k400b=$(printf 'k%.0s' $(seq 1 300))$(printf 'b%.0s' $(seq 1 100))
post "$url" "$acme" "$(ev ik-1)" "Idempotency-Key: $k400"
is_new || fail "a 400-byte Idempotency-Key: $status $body"
post "$url" "$acme2" "$(ev ik-1)" "Idempotency-Key: $k400"
is_new || bad "another user's event with the same Idempotency-Key was dropped: $status $body"
post "$url" "$acme" "$(ev ik-1)" "Idempotency-Key: $k400b"
is_new || bad "a key differing after 300 bytes was taken for the same: $status $body"
post "$url" "$acme" "$(ev ik-1)" "Idempotency-Key: $k400"
is_dup || bad "a retry with the same key and principal was produced again: $status $body"
[ "$(records acme:ik-1)" = 3 ] || bad "ik-1 is in Kafka $(records acme:ik-1) times, want 3"
post "$url" "$acme" "$(ev ik-2)" "Idempotency-Key: $(printf 'x%.0s' $(seq 1 1025))"
[ "$status" = 400 ] && grep -q '"code":"idempotency_key_too_long".*at most 1024' <<<"$body" ||
  bad "a 1025-byte Idempotency-Key: $status $body"

# a restart of up forgets nothing
stop_up
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
before=$(records "$V")
post "$url" "$acme" "$(ev v "$V")"
is_dup || bad "after a restart $V was not a duplicate: $status $body"
[ "$(records "$V")" = "$before" ] || bad "after a restart $V was produced again"

# two serve replicas and up share it
start_serve() { # start_serve NAME [ARGS...] -> $base
  local name=$1
  shift
  "$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  spids+=($!)
  for _ in $(seq 1 300); do
    grep -q '^http: ' "$work/$name.out" && break
    kill -0 "${spids[-1]}" 2>/dev/null || fail "serve $name exited early"
    sleep 0.1
  done
  base=$(sed -n 's/^http: //p' "$work/$name.out")
  [ -n "$base" ] || fail "serve $name printed no http: line"
}
start_serve a --set kafka.message.timeout.ms=3000
A=$base
start_serve b
B=$base
W=01JDQ7ZV3K8YQ2W5N6P7R8S9W2
post "$A" "$acme" "$(ev w "$W")"
is_new || fail "first post of $W to serve a: $status $body"
post "$B" "$acme" "$(ev w "$W")"
is_dup || bad "serve b produced what serve a had: $status $body"
post "$url" "$acme" "$(ev w "$W")"
is_dup || bad "up produced what serve a had: $status $body"
[ "$(records "$W")" = 1 ] || bad "$W is in Kafka $(records "$W") times, want 1"

# the same ids at the same time to both replicas: each produced once; the
# other answer is a duplicate or in flight, never lost
cpids=()
for i in $(seq 10 29); do
  id=01JDQ7ZV3K8YQ2W5N6P7R8S9$i
  for r in "$A" "$B"; do
    curl -s -m 30 -o "$work/race.$i.${r##*:}" -w '%{http_code}\n' -H "Authorization: Bearer $acme" \
      -H 'Content-Type: application/json' --data-binary "$(ev race "$id")" "$r/v1/events" \
      >"$work/race.$i.${r##*:}.status" &
    cpids+=($!)
  done
done
for p in "${cpids[@]}"; do wait "$p" || true; done
timeout 30 kcat -C -b "$kafka" -t sb.leads -e -q -f '%h\n' 2>/dev/null >"$work/heads"
for i in $(seq 10 29); do
  id=01JDQ7ZV3K8YQ2W5N6P7R8S9$i
  fresh=0 other=0
  for f in "$work/race.$i".*[0-9]; do
    s=$(cat "$f.status")
    if [ "$s" = 202 ] && ! grep -q '"duplicate"' "$f"; then fresh=$((fresh + 1))
    elif [ "$s" = 202 ] || { [ "$s" = 409 ] && grep -q '"code":"in_flight"' "$f"; }; then other=$((other + 1))
    else bad "racing post of $id: $s $(cat "$f")"; fi
  done
  c=$(grep -c "ce_id=$id" "$work/heads" || true)
  [ "$c" = 1 ] && [ "$fresh" -le 1 ] || bad "racing id $id: in Kafka $c times, $fresh fresh answers"
  # whatever was answered, a retry now is a duplicate
  post "$B" "$acme" "$(ev race "$id")"
  is_dup || bad "a retry of racing id $id: $status $body"
done

# a claim another process holds (in flight) is answered 409 with
# Retry-After and not produced; once its lease passed (the process died)
# the id is claimed again and produced
X=01JDQ7ZV3K8YQ2W5N6P7R8S9X3
# the store's key: the first 128 bits of SHA-256("sb-event-id\0" tenant "\0" id)
key="encode(substring(sha256('sb-event-id'::bytea || '\\x00'::bytea || convert_to('acme', 'UTF8') || '\\x00'::bytea || convert_to('$X', 'UTF8')) FOR 16), 'hex')::uuid"
q "INSERT INTO sb.idempotency (key, attempt) VALUES ($key, 42)" >/dev/null 2>&1 ||
  bad "no sb.idempotency table to hold claims"
post "$url" "$acme" "$(ev x "$X")"
[ "$status" = 409 ] && grep -q '"code":"in_flight"' <<<"$body" &&
  grep -qi '^Retry-After: ' "$work/head.$n" ||
  bad "an id in flight elsewhere: $status $body"
[ "$(records "$X")" = 0 ] || bad "an id in flight elsewhere was produced"
q "UPDATE sb.idempotency SET claimed_at = now() - interval '10 minutes' WHERE key = $key" \
  >/dev/null 2>&1 || true
post "$url" "$acme" "$(ev x "$X")"
is_new || bad "an abandoned claim (lease passed) blocked its id: $status $body"
[ "$(records "$X")" = 1 ] || bad "$X is in Kafka $(records "$X") times after its lease, want 1"

# keys leave by age only: made older than the window, they are purged (in
# batches, every few seconds); the others stay
old_keys() { q "SELECT count(*) FROM sb.idempotency WHERE claimed_at < now() - interval '1 hour'" 2>/dev/null || echo none; }
q "UPDATE sb.idempotency SET claimed_at = now() - interval '1 day' WHERE key <> $key" >/dev/null 2>&1 || true
for _ in $(seq 1 100); do
  [ "$(old_keys)" = 0 ] && break
  sleep 0.2
done
[ "$(old_keys)" = 0 ] || bad "keys past the window were not purged"
[ "$(q "SELECT count(*) FROM sb.idempotency WHERE key = $key" 2>/dev/null || true)" = 1 ] ||
  bad "a key within the window was purged"

# a first attempt that fails (the broker stopped answering serve a): the
# retries meanwhile are in flight, not duplicates; after the failure a
# retry is produced
Y=01JDQ7ZV3K8YQ2W5N6P7R8S9Y4
kill -STOP "$pid" # up hosts the broker
curl -s -m 60 -o "$work/first.body" -w '%{http_code}' -H "Authorization: Bearer $acme" \
  -H 'Content-Type: application/json' --data-binary "$(ev y "$Y")" "$A/v1/events" >"$work/first.status" &
first=$!
sleep 1
post "$A" "$acme" "$(ev y "$Y")"
[ "$status" = 409 ] && grep -q in_flight <<<"$body" ||
  bad "a retry on the same replica while the first is in flight: $status $body"
post "$B" "$acme" "$(ev y "$Y")"
[ "$status" = 409 ] && grep -q in_flight <<<"$body" ||
  bad "a retry on another replica while the first is in flight: $status $body"
wait "$first" || true
grep -qx 503 "$work/first.status" || bad "the first attempt did not fail: $(cat "$work/first.status") $(cat "$work/first.body")"
kill -CONT "$pid"
for _ in $(seq 1 20); do
  post "$B" "$acme" "$(ev y "$Y")"
  [ "$status" = 503 ] || [ "$status" = 409 ] || break
  sleep 0.5
done
is_new || bad "a retry after the first attempt failed was not produced: $status $body"
[ "$(records "$Y")" -ge 1 ] || bad "$Y was lost"

# PostgreSQL down: 503 with Retry-After, nothing produced; then back
Z=01JDQ7ZV3K8YQ2W5N6P7R8S9Z5
"$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || fail "could not stop PostgreSQL"
post "$url" "$acme" "$(ev z "$Z")"
[ "$status" = 503 ] && grep -q 'idempotency store' <<<"$body" &&
  grep -qi '^Retry-After: ' "$work/head.$n" ||
  bad "with PostgreSQL down: $status $body"
[ "$(records "$Z")" = 0 ] || bad "with PostgreSQL down $Z was produced"
"$SB" postgres start --data-dir "$dd" >/dev/null 2>&1 || fail "could not start PostgreSQL"
for _ in $(seq 1 30); do
  post "$url" "$acme" "$(ev z "$Z")"
  [ "$status" = 503 ] || break
  sleep 0.5
done
is_new || bad "after PostgreSQL came back: $status $body"
curl -s -o "$work/metrics" "$url/metrics"
grep -q '^switchboard_idempotency_claims_total{result="duplicate"} [1-9]' "$work/metrics" ||
  bad "no idempotency metrics"

for p in "${spids[@]}"; do kill -TERM "$p"; wait "$p" || bad "serve exited non-zero"; done
spids=()
stop_up
[ ${#problems[@]} -eq 0 ] || fail "${#problems[@]} problem(s): ${problems[*]}"
echo "idempotency: all checks passed"
