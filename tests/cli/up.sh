#!/usr/bin/env bash
# switchboard up on an empty data directory: the kafka and postgres lines
# within 60 s; kcat lists the topics; psql connects; a second up is refused;
# SIGTERM stops everything cleanly; a restart keeps the database; after a
# SIGKILL the next up adopts the orphaned server.
. "$(dirname "$0")/lib.sh"
dd=$work/data
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mask() { sed 's|://\([^:]*\):[^@]*@|://\1:****@|' <<<"$1"; }

start_up() {
  "$SB" up --data-dir "$dd" --partitions 3 >"$work/up.out" 2>"$work/up.err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^postgres: ' "$work/up.out" && break
    kill -0 "$pid" 2>/dev/null || fail "up exited before printing its lines"
    sleep 0.1
  done
  grep -q '^postgres: ' "$work/up.out" || fail "no postgres line within 60 s"
  kafka=$(sed -n 's/^kafka: //p' "$work/up.out")
  # printed without its password; the full URL is in runtime.conf
  url=$(sed -n 's/^database_url = //p' "$dd/runtime.conf")
  grep -qxF "postgres: $(mask "$url")" "$work/up.out" || fail "up's postgres line: $(grep ^postgres "$work/up.out")"
  grep -qxF "runtime: $dd/runtime.conf" "$work/up.out" || fail "up does not say where runtime.conf is"
  [ -n "$kafka" ] || fail "no kafka line"
}

stop_up() {
  kill -TERM "$pid"
  wait "$pid" || fail "up exited non-zero after SIGTERM"
  pid=
}

start_up
meta=$(kcat -L -b "$kafka" -m 10)
for t in sb.leads sb.calls sb.agents sb.messages sb.campaigns sb.compliance \
  sb.gamification sb.deadletter; do
  grep -q "topic \"$t\" with 3 partitions" <<<"$meta" || fail "kcat does not list $t"
done
[ "$(psql "$url" -Atc 'SELECT count(*) FROM sb_schema_migrations')" -ge 1 ] ||
  fail "migrations not recorded"
psql "$(su_url)" -qc 'CREATE TABLE survives (x int); INSERT INTO survives VALUES (7)'
grep -qx "brokers = $kafka" "$dd/runtime.conf" || fail "runtime.conf lacks brokers"
grep -qxF "database_url = $url" "$dd/runtime.conf" || fail "runtime.conf lacks url"
[ "$(stat -c %a "$dd/runtime.conf")" = 600 ] || fail "runtime.conf is readable by others"
[ "$(stat -c %a "$dd/jwt.secret")" = 600 ] || fail "up did not create a 0600 jwt.secret"
grep -qE '^[0-9a-f]{64}$' "$dd/jwt.secret" || fail "jwt.secret is not 32 bytes of hex"
grep -qF -- "$(cat "$dd/jwt.secret")" "$work/up.err" && fail "the token secret reached the log"
password=$(sed -n 's|^postgresql://[^:]*:\([^@]*\)@.*|\1|p' <<<"$url")
[ -n "$password" ] || fail "no password in url"
grep -qF -- "$password" "$work/up.err" && fail "the password reached the log"
grep -qF -- "$password" "$work/up.out" && fail "up printed the password"
"$SB" migrate --data-dir "$dd" | grep -q '^migrations: 0 applied' ||
  fail "migrate did not find the running instance"
expect_error 1 "another switchboard up is running on $dd" "$SB" up --data-dir "$dd"

# production mode: configured brokers and database are checked and used;
# nothing private is started, and stopping leaves them running; the
# database URL is the application role's (migrations already applied)
dd2=$work/data2
"$SB" up --data-dir "$dd2" --brokers "$kafka" --database-url "$url" \
  >"$work/prod.out" 2>"$work/prod.err" &
prod=$!
for _ in $(seq 1 300); do
  grep -q '^postgres: ' "$work/prod.out" && break
  sleep 0.1
done
grep -qx "kafka: $kafka" "$work/prod.out" || fail "production up: wrong kafka line"
grep -qxF "postgres: $(mask "$url")" "$work/prod.out" || fail "production up: wrong postgres line"
grep -qF -- "$password" "$work/prod.out" "$work/prod.err" && fail "production up printed the password"
grep -q 'embedded broker' "$work/prod.err" && fail "production up started the embedded broker"
[ ! -e "$dd2/postgres" ] || fail "production up created a private server"
kill -TERM "$prod"
wait "$prod" || fail "production up exited non-zero after SIGTERM"
psql "$url" -Atc 'SELECT 1' >/dev/null || fail "production up stopped the database"

stop_up
[ ! -e "$dd/runtime.conf" ] || fail "runtime.conf left after stop"
rc=0; "$SB" postgres status --data-dir "$dd" >/dev/null || rc=$?
[ $rc -eq 3 ] || fail "private server still running after stop (status $rc)"

start_up
[ "$(psql "$(su_url)" -Atc 'SELECT x FROM survives')" = 7 ] || fail "database lost on restart"
grep -q 'migrations_applied=0' "$work/up.err" || fail "migrations re-applied on restart"

kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
start_up
grep -q 'already running, reusing it' "$work/up.err" || fail "orphaned server not adopted"
[ "$(psql "$(su_url)" -Atc 'SELECT x FROM survives')" = 7 ] || fail "database lost after SIGKILL"
stop_up
echo "up: all checks passed"
