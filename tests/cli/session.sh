#!/usr/bin/env bash
# Dashboard sessions, end to end (`up`, and `serve` with 2-second sessions):
#  - POST /v1/session signs in with a token: 201 and an HttpOnly,
#    SameSite=Strict cookie (no Secure on plain HTTP); without a token or
#    with a bad one 401 (security.login_failed recorded);
#  - the cookie authenticates GET /v1/session, POST /v1/events and the
#    WebSocket feed, from the API's own Origin or one of
#    http.allowed_origins only (another Origin, or none: 403, CSRF; a GET
#    with Sec-Fetch-Site: same-origin and no Origin, as a browser sends the
#    dashboard's reads, is let in), on
#    every serving process of the instance; a made-up cookie is 401;
#  - DELETE /v1/session signs out: the cookie is cleared and refused
#    afterwards by both processes, its WebSocket closed;
#  - a session ends at auth.session_ttl_seconds; a user keeps at most
#    auth.session_max_per_user sessions (its oldest end);
#  - under TLS the cookie is __Host-sb_session, Secure, for https origins;
#  - LOGIN and LOGOUT are in the audit log as access.recorded.
. "$(dirname "$0")/lib.sh"
WS="/usr/bin/python3 $(dirname "$0")/ws_session.py"
spid=
cleanup_extra() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  return 0
}
start_up --partitions 2 --set http.allowed_origins=https://dash.example \
  --set auth.session_max_per_user=2
[ -n "$url" ] || fail "no http line"
"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 \
  --set auth.session_ttl_seconds=2 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 300); do
  grep -q '^http: ' "$work/serve.out" && break
  kill -0 "$spid" 2>/dev/null || fail "serve exited early: $(cat "$work/serve.err")"
  sleep 0.1
done
url2=$(sed -n 's/^http: //p' "$work/serve.out")
[ -n "$url2" ] || fail "serve printed no http: line"
own="Origin: $url" own2="Origin: $url2"

bob=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub bob)
# signin [BASE]: signs bob in; the status in $st, the cookie's value in
# $cookie, headers in $work/h
signin() {
  st=$(curl -s -D "$work/h" -o "$work/body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $bob" -H 'User-Agent: session-test/1' "${1:-$url}/v1/session")
  cookie=$(sed -n 's/^Set-Cookie: sb_session=\([^;]*\);.*/\1/p' "$work/h" | tr -d '\r')
}
# get COOKIE ORIGIN_HEADER [BASE]: the status of GET /v1/session
get() {
  curl -s -o "$work/get" -w '%{http_code}' -b "sb_session=$1" ${2:+-H "$2"} "${3:-$url}/v1/session"
}
until_get() { # WANT SECONDS COOKIE ORIGIN [BASE]
  local deadline=$((SECONDS + $2))
  while :; do
    [ "$(get "$3" "$4" "${5:-}")" = "$1" ] && return 0
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

# ---- signing in ----------------------------------------------------------------
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/session")" = 401 ] || fail "sign-in without a token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer x.y.z' "$url/v1/session")" = 401 ] ||
  fail "sign-in with a bad token"
signin
[ "$st" = 201 ] || fail "sign-in: $(cat "$work/body")"
[ ${#cookie} = 43 ] || fail "cookie value: '$cookie'"
grep -i '^Set-Cookie:' "$work/h" | grep -q 'HttpOnly; SameSite=Strict' || fail "cookie flags: $(grep -i set-cookie "$work/h")"
grep -i '^Set-Cookie:' "$work/h" | grep -q 'Secure' && fail "Secure cookie on plain HTTP"
grep -q '"sub":"bob"' "$work/body" || fail "sign-in body: $(cat "$work/body")"
c1=$cookie

# ---- the cookie authenticates, from allowed origins only ---------------------------
[ "$(get "$c1" "$own")" = 200 ] || fail "GET with the cookie: $(cat "$work/get")"
grep -q '"session":{"id":"' "$work/get" || fail "no session in: $(cat "$work/get")"
[ "$(get "$c1" "Origin: https://dash.example")" = 200 ] || fail "an allowed origin was refused"
[ "$(get "$c1" "Origin: http://evil.example")" = 403 ] || fail "another origin was let in"
grep -q origin_refused "$work/get" || fail "no origin_refused: $(cat "$work/get")"
[ "$(get "$c1" "")" = 403 ] || fail "a cookie without Origin was let in"
# a browser's same-origin GET sends no Origin, but Sec-Fetch-Site (the
# dashboard reading the read API); anything else without Origin is refused
[ "$(get "$c1" "Sec-Fetch-Site: same-origin")" = 200 ] || fail "a same-origin GET without Origin: $(cat "$work/get")"
[ "$(get "$c1" "Sec-Fetch-Site: cross-site")" = 403 ] || fail "a cross-site GET without Origin was let in"
[ "$(get "$c1" "Sec-Fetch-Site: same-site")" = 403 ] || fail "a same-site GET without Origin was let in"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "sb_session=$c1" -H 'Sec-Fetch-Site: same-origin' "$url/v1/projections")" = 200 ] ||
  fail "the read API with the cookie from the dashboard"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "sb_session=$c1" -H 'Sec-Fetch-Site: same-origin' -H 'Content-Type: application/json' --data-binary '{}' "$url/v1/events")" = 403 ] ||
  fail "a POST without Origin was let in on Sec-Fetch-Site"
[ "$(get "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$own")" = 401 ] || fail "a made-up cookie was let in"
[ "$(get "$c1" "$own")" = 200 ] || fail "the cookie stopped working"
until_get 200 5 "$c1" "$own2" "$url2" || fail "serve does not know the session: $(cat "$work/get")"
ev="{\"specversion\":\"1.0\",\"type\":\"agent.state_changed\",\"source\":\"/t\",\"subject\":\"bob\",\"time\":\"$(date -u +%FT%TZ)\",\"data\":{\"agent_id\":\"bob\",\"state\":\"available\"}}"
[ "$(curl -s -o "$work/body" -w '%{http_code}' -b "sb_session=$c1" -H "$own" -H 'Content-Type: application/json' --data-binary "$ev" "$url/v1/events")" = 202 ] ||
  fail "POST /v1/events with the cookie: $(cat "$work/body")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "sb_session=$c1" -H 'Origin: http://evil.example' -H 'Content-Type: application/json' --data-binary "$ev" "$url/v1/events")" = 403 ] ||
  fail "a cross-origin POST with the cookie was accepted"
$WS "ws://${url#http://}/v1/stream" "$work/ws_evil.out" "Cookie: sb_session=$c1" "Origin: http://evil.example"
grep -q '^REFUSED 403' "$work/ws_evil.out" || fail "cross-origin WebSocket: $(cat "$work/ws_evil.out")"
$WS "ws://${url#http://}/v1/stream" "$work/ws.out" "Cookie: sb_session=$c1" "$own" &
wspid=$!
for _ in $(seq 1 50); do grep -q subscribed "$work/ws.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"welcome":{"tenant":"acme","role":"agent","sub":"bob"' "$work/ws.out" || fail "WebSocket with the cookie: $(cat "$work/ws.out" 2>/dev/null)"

# ---- signing out ------------------------------------------------------------------
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -b "sb_session=$c1" -H 'Origin: http://evil.example' "$url/v1/session")" = 403 ] ||
  fail "a cross-origin sign-out was accepted"
[ "$(get "$c1" "$own")" = 200 ] || fail "a refused sign-out ended the session"
[ "$(curl -s -D "$work/h" -o "$work/body" -w '%{http_code}' -X DELETE -b "sb_session=$c1" -H "$own" "$url/v1/session")" = 200 ] ||
  fail "sign-out: $(cat "$work/body")"
grep -q '^Set-Cookie: sb_session=; Path=/; Max-Age=0' "$work/h" || fail "sign-out did not clear the cookie: $(cat "$work/h")"
[ "$(get "$c1" "$own")" = 401 ] || fail "the cookie works after sign-out"
until_get 401 5 "$c1" "$own2" "$url2" || fail "serve still accepts the signed-out cookie"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -b "sb_session=$c1" -H "$own" "$url/v1/session")" = 401 ] ||
  fail "signing out twice"
for _ in $(seq 1 50); do grep -q '^CLOSED' "$work/ws.out" && break; sleep 0.1; done
grep -q '^CLOSED 1008 session ended' "$work/ws.out" || fail "the WebSocket outlived its session: $(tail -2 "$work/ws.out")"
wait "$wspid" 2>/dev/null || true

# ---- bounded: lifetime and number ---------------------------------------------------
signin "$url2"
[ "$st" = 201 ] || fail "sign-in on serve: $(cat "$work/body")"
grep -i '^Set-Cookie:' "$work/h" | grep -q 'Max-Age=2;' || fail "serve's cookie: $(grep -i set-cookie "$work/h")"
[ "$(get "$cookie" "$own2" "$url2")" = 200 ] || fail "a new 2-second session refused"
until_get 401 10 "$cookie" "$own2" "$url2" || fail "the 2-second session did not expire"
signin && a=$cookie && [ "$st" = 201 ] && signin && b=$cookie && [ "$st" = 201 ] &&
  signin && [ "$st" = 201 ] || fail "three sign-ins"
until_get 401 5 "$a" "$own" || fail "the oldest of 3 sessions (at most 2 a user) still works"
[ "$(get "$b" "$own")" = 200 ] && [ "$(get "$cookie" "$own")" = 200 ] || fail "the newest sessions were ended"
[ "$(q "SELECT count(*) FROM sb.sessions WHERE end_reason = 'superseded'")" = 1 ] || fail "no superseded session"
[ "$(q "SELECT count(*) FROM sb.sessions")" -ge 5 ] || fail "sb.sessions: $(q 'SELECT count(*) FROM sb.sessions') rows"
[ "$(q "SELECT count(*) FROM sb.sessions s WHERE s::text LIKE '%$c1%' OR s::text LIKE '%$b%'")" = 0 ] ||
  fail "sb.sessions holds a cookie's value"

# ---- under TLS: __Host- cookie, Secure, https origins --------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>"$work/openssl.err" ||
  fail "openssl req: $(cat "$work/openssl.err")"
kill -TERM "$spid"
wait "$spid" || fail "serve exited non-zero"
"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 --tls-cert "$work/cert.pem" \
  --tls-key "$work/key.pem" >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 300); do
  grep -q '^http: ' "$work/serve.out" && break
  kill -0 "$spid" 2>/dev/null || fail "serve (TLS) exited early: $(cat "$work/serve.err")"
  sleep 0.1
done
url3=$(sed -n 's/^http: //p' "$work/serve.out")
case $url3 in https://*) ;; *) fail "serve (TLS) printed '$url3'" ;; esac
tcurl() { curl -s --cacert "$work/cert.pem" "$@"; }
[ "$(tcurl -D "$work/h" -o "$work/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $bob" "$url3/v1/session")" = 201 ] ||
  fail "sign-in over TLS: $(cat "$work/body")"
grep -qi '^Set-Cookie: __Host-sb_session=[A-Za-z0-9_-]\{43\}; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure' "$work/h" ||
  fail "TLS cookie: $(grep -i set-cookie "$work/h")"
tc=$(sed -n 's/^Set-Cookie: __Host-sb_session=\([^;]*\);.*/\1/p' "$work/h" | tr -d '\r')
[ "$(tcurl -o "$work/get" -w '%{http_code}' -b "__Host-sb_session=$tc" -H "Origin: $url3" "$url3/v1/session")" = 200 ] ||
  fail "TLS cookie refused: $(cat "$work/get")"
[ "$(tcurl -o /dev/null -w '%{http_code}' -b "__Host-sb_session=$tc" -H "Origin: http://${url3#https://}" "$url3/v1/session")" = 403 ] ||
  fail "an http:// origin was let in over TLS"
[ "$(tcurl -o /dev/null -w '%{http_code}' -b "sb_session=$tc" -H "Origin: $url3" "$url3/v1/session")" = 401 ] ||
  fail "the plain-HTTP cookie name was accepted over TLS"

# ---- on record ----------------------------------------------------------------------
# (reads and subscriptions are access.recorded too: wait for the LOGINs)
for _ in $(seq 1 50); do
  "$SB" audit export --data-dir "$dd" --tenant acme >"$work/export" 2>/dev/null || fail "audit export"
  [ "$(grep '"type":"access.recorded"' "$work/export" | grep -c '"action":"LOGIN"')" -ge 6 ] && break
  sleep 0.2
done
[ "$(grep '"type":"access.recorded"' "$work/export" | grep -c '"action":"LOGIN"')" = 6 ] ||
  fail "LOGIN events: $(grep -c access.recorded "$work/export")"
[ "$(grep '"type":"access.recorded"' "$work/export" | grep -c '"action":"LOGOUT"')" = 1 ] || fail "LOGOUT events"
grep '"action":"LOGIN"' "$work/export" | head -1 | grep -q '"actoruseragent":"session-test/1"' ||
  fail "LOGIN without the user agent: $(grep -m1 '"action":"LOGIN"' "$work/export")"
grep -q "$c1" "$work/export" && fail "a cookie's value is in the audit log"
"$SB" audit export --data-dir "$dd" --tenant _operator >"$work/export_op" || fail "audit export _operator"
grep -q '"type":"security.login_failed"' "$work/export_op" || fail "the bad sign-in was not recorded"

kill -TERM "$spid"
wait "$spid" || fail "serve exited non-zero"
spid=
stop_up
echo "session: all checks passed"
