#!/usr/bin/env bash
# RBAC as data, end to end (`up` with the audit and rbac processors, and a
# second API process, `serve`):
#  - bootstrap: in a tenant no role event named yet, tokens act with their
#    role; its first role event must grant admin;
#  - once managed, a user acts only with a role it holds: a token of a
#    user without a grant is refused 403 (and recorded), a grant takes
#    effect, another tenant's grant does not apply, a grant past its
#    expires_at lapses;
#  - a role revoked by event is refused by both API processes within 5 s
#    (bounded polls; nothing is timed beyond that bound), its WebSocket
#    closed, its session refused, and it cannot sign in;
#  - the last admin of a tenant cannot be revoked; once another admin
#    exists it can.
. "$(dirname "$0")/lib.sh"
WS="/usr/bin/python3 $(dirname "$0")/ws_session.py"
spid=
cleanup_extra() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  return 0
}
start_up --partitions 2
[ -n "$url" ] || fail "no http line"
"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 300); do
  grep -q '^http: ' "$work/serve.out" && break
  kill -0 "$spid" 2>/dev/null || fail "serve exited early: $(cat "$work/serve.err")"
  sleep 0.1
done
url2=$(sed -n 's/^http: //p' "$work/serve.out")
[ -n "$url2" ] || fail "serve printed no http: line"

tok() { "$SB" token --data-dir "$dd" --tenant "$1" --role "$2" --sub "$3"; }
ada=$(tok acme admin ada)       # acme's first admin
bob=$(tok acme agent bob)
carl_acme=$(tok acme admin carl) # carl is globex's admin, not acme's
carl=$(tok globex admin carl)
dan=$(tok acme admin dan)
eve=$(tok acme manager eve)

now() { date -u +%FT%T.%3NZ; }
# post TOKEN TYPE SUBJECT DATA [BASE]: the status; the body in $work/body
post() {
  curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' "${5:-$url}/v1/events" --data-binary \
    "{\"specversion\":\"1.0\",\"type\":\"$2\",\"source\":\"/t\",\"subject\":\"$3\",\"time\":\"$(now)\",\"data\":$4}"
}
# whoami TOKEN [BASE]: the status of GET /v1/session; body in $work/who
whoami() {
  curl -s -o "$work/who" -w '%{http_code}' -H "Authorization: Bearer $1" "${2:-$url}/v1/session"
}
# until_status WANT SECONDS TOKEN [BASE]: polls whoami until it answers WANT
until_status() {
  local deadline=$((SECONDS + $2)) s
  while :; do
    s=$(whoami "$3" "${4:-}")
    [ "$s" = "$1" ] && return 0
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
# until_managed TOKEN: polls (10 s) until the token's tenant is managed
until_managed() {
  local deadline=$((SECONDS + 10))
  while :; do
    [ "$(whoami "$1")" = 200 ] && grep -q '"managed":true' "$work/who" && return 0
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
state() { echo "{\"agent_id\":\"bob\",\"state\":\"available\"}"; }

# ---- bootstrap --------------------------------------------------------------
[ "$(whoami "$bob")" = 200 ] || fail "unmanaged tenant: bob's token refused: $(cat "$work/who")"
grep -q '"managed":false' "$work/who" || fail "acme managed before any grant: $(cat "$work/who")"
[ "$(post "$bob" agent.state_changed bob "$(state)")" = 202 ] || fail "bootstrap: bob's event: $(cat "$work/body")"
[ "$(post "$ada" role.granted bob '{"role":"agent"}')" = 403 ] ||
  fail "a first role event that is not a grant of admin was accepted: $(cat "$work/body")"
grep -q "first role event must grant admin" "$work/body" || fail "no reason: $(cat "$work/body")"
[ "$(post "$ada" role.revoked ada '{"role":"admin"}')" = 403 ] || fail "a first revocation was accepted"
[ "$(post "$bob" role.granted bob '{"role":"admin"}')" = 403 ] || fail "an agent granted a role"
[ "$(post "$ada" role.granted ada '{"role":"admin","reason":"first admin"}')" = 202 ] ||
  fail "the first admin grant: $(cat "$work/body")"
until_managed "$ada" ||
  fail "acme not managed 10 s after its first grant: $(cat "$work/who")"

# ---- managed: only roles held -------------------------------------------------
[ "$(whoami "$bob")" = 403 ] || fail "bob without a grant was let in: $(cat "$work/who")"
grep -q '"code":"role_not_held"' "$work/who" || fail "no role_not_held: $(cat "$work/who")"
[ "$(post "$bob" agent.state_changed bob "$(state)")" = 403 ] || fail "bob posted without a grant"
[ "$(post "$ada" role.granted bob '{"role":"agent"}')" = 202 ] || fail "grant bob: $(cat "$work/body")"
until_status 200 5 "$bob" || fail "bob's grant did not take effect within 5 s: $(cat "$work/who")"
until_status 200 5 "$bob" "$url2" || fail "serve: bob's grant not within 5 s: $(cat "$work/who")"
[ "$(post "$bob" agent.state_changed bob "$(state)")" = 202 ] || fail "granted bob refused: $(cat "$work/body")"
# another tenant's grant does not apply
[ "$(post "$carl" role.granted carl '{"role":"admin"}')" = 202 ] || fail "globex's first admin: $(cat "$work/body")"
until_managed "$carl" || fail "globex not managed"
[ "$(whoami "$carl_acme")" = 403 ] || fail "carl, admin of globex, acts as acme's admin"
[ "$(post "$carl_acme" role.granted carl '{"role":"admin"}')" = 403 ] || fail "carl granted himself acme's admin"
[ "$(post "$ada" role.granted carl '{"role":"agent"}' "$url")" = 202 ] || fail "grant carl agent in acme"
until_status 200 5 "$(tok acme agent carl)" || fail "carl's acme agent grant not in effect"
[ "$(whoami "$carl_acme")" = 403 ] || fail "carl's agent grant let his admin token in"
# a grant lapses at expires_at
exp=$(date -u -d '+4 seconds' +%FT%T.%3NZ)
[ "$(post "$ada" role.granted eve "{\"role\":\"manager\",\"expires_at\":\"$exp\"}")" = 202 ] || fail "grant eve"
until_status 200 5 "$eve" || fail "eve's grant not in effect"
until_status 403 10 "$eve" || fail "eve's grant did not lapse at its expires_at"

# ---- revocation within 5 s, on both processes, WebSocket closed -----------------
$WS "ws://${url#http://}/v1/stream" "$work/ws.out" "Authorization: Bearer $bob" &
wspid=$!
for _ in $(seq 1 50); do grep -q subscribed "$work/ws.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"welcome"' "$work/ws.out" || fail "bob's WebSocket: $(cat "$work/ws.out" 2>/dev/null)"
bcookie=$(curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $bob" "$url/v1/session" |
  sed -n 's/^Set-Cookie: sb_session=\([^;]*\);.*/\1/p' | tr -d '\r')
[ ${#bcookie} = 43 ] || fail "bob could not sign in"
[ "$(post "$ada" role.revoked bob '{"role":"agent","reason":"left"}')" = 202 ] || fail "revoke bob: $(cat "$work/body")"
t0=$SECONDS
until_status 403 5 "$bob" || fail "bob's revoked role still accepted 5 s later: $(cat "$work/who")"
until_status 403 5 "$bob" "$url2" || fail "serve: bob's revoked role still accepted 5 s later"
[ "$(post "$bob" agent.state_changed bob "$(state)")" = 403 ] || fail "revoked bob posted"
[ "$(curl -s -o "$work/who" -w '%{http_code}' -b "sb_session=$bcookie" -H "Origin: $url" "$url/v1/session")" = 403 ] ||
  fail "revoked bob's session still works: $(cat "$work/who")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $bob" "$url/v1/session")" = 403 ] ||
  fail "revoked bob signed in"
for _ in $(seq 1 50); do grep -q '^CLOSED' "$work/ws.out" && break; sleep 0.1; done
grep -q '^CLOSED 1008 role no longer held' "$work/ws.out" || fail "bob's WebSocket not closed: $(tail -2 "$work/ws.out")"
wait "$wspid" 2>/dev/null || true
echo "rbac: bob's revocation refused after about $((SECONDS - t0)) s"

# ---- the last admin ---------------------------------------------------------------
[ "$(post "$ada" role.revoked ada '{"role":"admin"}')" = 403 ] || fail "the last admin was revoked"
grep -q "last admin of tenant acme" "$work/body" || fail "no reason: $(cat "$work/body")"
[ "$(post "$ada" role.granted dan '{"role":"admin"}')" = 202 ] || fail "grant dan admin"
until_status 200 5 "$dan" || fail "dan's admin grant not in effect"
[ "$(post "$dan" role.revoked ada '{"role":"admin"}')" = 202 ] || fail "revoking ada with dan admin: $(cat "$work/body")"
until_status 403 5 "$ada" || fail "ada's revoked admin still accepted"
[ "$(post "$dan" role.revoked dan '{"role":"admin"}')" = 403 ] || fail "dan, now the last admin, was revoked"

# ---- what was refused is on record ------------------------------------------------
for _ in $(seq 1 50); do
  [ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'security.access_denied' AND tenant_id = 'acme'")" -ge 3 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'security.access_denied' AND tenant_id = 'acme'")" -ge 3 ] ||
  fail "refusals not recorded"
[ "$(q "SELECT active FROM rbac.user_roles WHERE tenant_id = 'acme' AND user_id = 'bob' AND role = 'agent'")" = f ] ||
  fail "rbac.user_roles: bob's agent role not revoked"

kill -TERM "$spid"
wait "$spid" || fail "serve exited non-zero"
spid=
stop_up
echo "rbac: all checks passed"
