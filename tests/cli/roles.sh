#!/usr/bin/env bash
# Least privilege in the database (issue 10, item 15), on `up`'s private
# PostgreSQL:
#  - the superuser's password (in $dd/postgres.state, 0600) appears nowhere
#    else: not in up's stdout or stderr, runtime.conf, `postgres url`, or a
#    restart's output; `postgres url --role owner` is refused;
#  - up's URL is the application role's, which logs in as itself: not
#    superuser, no CREATEROLE/CREATEDB, in none of the server-file or
#    program roles; COPY ... PROGRAM fails, RESET ROLE gains nothing, SET
#    ROLE to the superuser fails; it cannot UPDATE, DELETE, TRUNCATE, DROP or
#    ALTER the audit log or a month partition of it, nor create a schema;
#  - the pipeline works as that role: imported events are audited and
#    verify passes, `migrate` (as the owner) has nothing left to do;
#  - a tenant's reader login (`postgres url --role reader --tenant T`)
#    reads T's audit rows and nothing of other tenants, even after SET ROLE,
#    cannot write, cannot read offsets or partitions directly; a reader
#    login mapped to no tenant sees nothing;
#  - production: a database owner that is not a superuser migrates (3
#    migrations, the projections), up on the application role's URL audits
#    events; migrate as the application role says to use the owner;
#  - after a restart the same application URL works.
. "$(dirname "$0")/lib.sh"
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }

# refused SQL...: as the application role, each statement fails
refused() {
  local sql out
  for sql in "$@"; do
    out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "$sql" 2>&1) &&
      fail "the application role was allowed: $sql"
    grep -Eq 'permission denied|must be owner|must be superuser|append-only' <<<"$out" ||
      fail "$sql as the application role: $out"
  done
}

start_up --partitions 3 --processors "$SB_PROCESSORS_NO_DERIVED"
state=$dd/postgres.state
[ "$(stat -c %a "$state")" = 600 ] || fail "postgres.state is mode $(stat -c %a "$state"), want 600"
supw=$(sed -n 's/^password = //p' "$state")
[ ${#supw} -ge 32 ] || fail "no superuser password in postgres.state"

# ---- the superuser's password is handed out nowhere -----------------------
no_supw() {
  local f
  for f in "$@"; do
    grep -qF -- "$supw" "$f" && fail "the superuser's password is in $(basename "$f")"
  done
  return 0
}
no_supw "$work/up.out" "$work/up.err" "$dd/runtime.conf"
grep -q 'superuser' "$work/up.err" && fail "up's workers work as a superuser: $(grep superuser "$work/up.err")"
"$SB" postgres url --data-dir "$dd" >"$work/url.out" || fail "postgres url failed"
no_supw "$work/url.out"
[ "$(cat "$work/url.out")" = "$db" ] || fail "postgres url prints $(cat "$work/url.out"), up printed $db"
expect_error 2 "never printed" "$SB" postgres url --role owner --data-dir "$dd"
no_supw "$work/expect.err"

# ---- the application role ------------------------------------------------
[[ $db == postgresql://switchboard_app:* ]] || fail "up's URL is not the application role's"
[ "$(q "SELECT current_user || ' ' || session_user")" = "switchboard_app switchboard_app" ] ||
  fail "up's URL logs in as $(q 'SELECT current_user')"
[ "$(q "SELECT rolsuper::text || rolcreaterole::text || rolcreatedb::text || rolcanlogin::text
        FROM pg_roles WHERE rolname = current_user")" = falsefalsefalsetrue ] ||
  fail "the application role's attributes: $(q 'SELECT * FROM pg_roles WHERE rolname = current_user')"
for r in pg_execute_server_program pg_read_server_files pg_write_server_files \
  pg_read_all_data pg_write_all_data switchboard; do
  [ "$(q "SELECT pg_has_role(current_user, '$r', 'USAGE') OR pg_has_role(current_user, '$r', 'MEMBER')")" = f ] ||
    fail "the application role has the privileges of $r"
done
out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "COPY (SELECT 1) TO PROGRAM 'id'" 2>&1) &&
  fail "the application role ran COPY ... TO PROGRAM"
grep -q 'pg_execute_server_program' <<<"$out" || fail "COPY TO PROGRAM: $out"
out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE t (x text)" \
  -c "COPY t FROM PROGRAM 'id'" 2>&1) && fail "the application role ran COPY ... FROM PROGRAM"
grep -q 'pg_execute_server_program' <<<"$out" || fail "COPY FROM PROGRAM: $out"
# RESET ROLE comes back to the login itself, which has nothing more
out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "RESET ROLE" -c "SELECT current_user, rolsuper
  FROM pg_roles WHERE rolname = current_user" 2>&1) || fail "RESET ROLE: $out"
[ "$out" = "switchboard_app|f" ] || fail "after RESET ROLE: $out"
out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "RESET ROLE" -c "COPY (SELECT 1) TO PROGRAM 'id'" 2>&1) &&
  fail "COPY TO PROGRAM after RESET ROLE"
grep -q 'pg_execute_server_program' <<<"$out" || fail "COPY after RESET ROLE: $out"
out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "SET ROLE switchboard" 2>&1) &&
  fail "the application role became the superuser"
grep -q 'permission denied' <<<"$out" || fail "SET ROLE switchboard: $out"

# ---- the pipeline, as the application role ---------------------------------
gen -n 300 -p RRRR -t acme,globex,initech >"$work/events.ndjson"
"$SB" import "$work/events.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.out" "$work/import.err")"
grep -qx 'accepted: 300, rejected: 0' "$work/import.out" || fail "import: $(cat "$work/import.out")"
deadline=$((SECONDS + 60))
while [ "$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)" -lt 300 ] &&
  [ $SECONDS -lt $deadline ]; do
  kill -0 "$pid" 2>/dev/null || fail "up died"
  sleep 0.3
done
[ "$(q 'SELECT count(*) || $$ $$ || count(DISTINCT event_id) FROM audit.events')" = "300 300" ] ||
  fail "audit.events: $(q 'SELECT count(*) FROM audit.events') rows, want 300"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "verify: $(cat "$work/verify.out")"
grep -q '^audit verify: OK: 300 rows' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
"$SB" migrate --data-dir "$dd" >"$work/migrate.out" 2>"$work/migrate.err" ||
  fail "migrate on the running instance: $(cat "$work/migrate.err")"
grep -q '^migrations: 0 applied' "$work/migrate.out" || fail "migrate: $(cat "$work/migrate.out")"
no_supw "$work/migrate.out" "$work/migrate.err"

# ---- the audit log cannot be changed or destroyed by the application role --
part=$(q "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit.events'::regclass LIMIT 1")
[ -n "$part" ] || fail "no month partition"
refused "UPDATE audit.events SET subject = 'x'" \
  "DELETE FROM audit.events" \
  "TRUNCATE audit.events" \
  "DROP TABLE audit.events" \
  "DROP SCHEMA audit CASCADE" \
  "ALTER TABLE audit.events DISABLE TRIGGER append_only" \
  "ALTER TABLE audit.events DISABLE ROW LEVEL SECURITY" \
  "UPDATE $part SET subject = 'x'" \
  "DELETE FROM $part" \
  "TRUNCATE $part" \
  "DROP TABLE $part" \
  "ALTER TABLE audit.events DETACH PARTITION $part" \
  "CREATE SCHEMA mine" \
  "DELETE FROM sb.processors" \
  "DROP FUNCTION audit.ensure_month(text, integer)"
[ "$(qsu 'SELECT count(*) FROM audit.events')" = 300 ] || fail "refused statements changed the audit log"

# ---- reader logins, one tenant each ------------------------------------------
"$SB" postgres url --role reader --tenant acme --data-dir "$dd" >"$work/acme.url" 2>"$work/acme.err" ||
  fail "postgres url --role reader: $(cat "$work/acme.err")"
"$SB" postgres url --role reader --tenant globex --data-dir "$dd" >"$work/globex.url" ||
  fail "postgres url --role reader --tenant globex"
no_supw "$work/acme.url" "$work/acme.err" "$work/globex.url"
expect_error 2 "needs --tenant" "$SB" postgres url --role reader --data-dir "$dd"
expect_error 2 "is not a tenant" "$SB" postgres url --role reader --tenant "a'b" --data-dir "$dd"
acme=$(cat "$work/acme.url")
rq() { psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
want=$(qsu "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme'")
[ "$want" -gt 0 ] || fail "test bug: no acme rows"
[ "$(rq "$acme" 'SELECT string_agg(DISTINCT tenant_id, $$,$$) || $$ $$ || count(*) FROM audit.events')" = "acme $want" ] ||
  fail "acme's reader sees: $(rq "$acme" 'SELECT tenant_id, count(*) FROM audit.events GROUP BY 1')"
[ "$(rq "$acme" "SELECT count(*) FROM audit.events WHERE tenant_id = 'globex'")" = 0 ] ||
  fail "acme's reader sees globex's rows"
[ "$(rq "$acme" 'SELECT count(DISTINCT tenant_id) FROM audit.chain_heads')" = 1 ] ||
  fail "acme's reader sees other tenants' chain heads"
out=$(psql "$acme" -XAtq -v ON_ERROR_STOP=1 -c "SET ROLE switchboard_reader" -c "SELECT count(*) FROM audit.events" 2>&1) ||
  fail "reader SET ROLE: $out"
[ "$out" = "$want" ] || fail "after SET ROLE switchboard_reader acme's reader sees $out rows, want $want"
gwant=$(qsu "SELECT count(*) FROM audit.events WHERE tenant_id = 'globex'")
[ "$(rq "$(cat "$work/globex.url")" 'SELECT string_agg(DISTINCT tenant_id, $$,$$) || $$ $$ || count(*) FROM audit.events')" = "globex $gwant" ] ||
  fail "globex's reader sees the wrong rows"
for sql in "SELECT count(*) FROM sb.consumer_offsets" "SELECT count(*) FROM sb.reader_logins" \
  "SELECT count(*) FROM $part" "INSERT INTO audit.events SELECT * FROM audit.events LIMIT 1" \
  "UPDATE sb.reader_logins SET tenant_id = 'globex'" "COPY (SELECT 1) TO PROGRAM 'id'" \
  "SELECT sb.protect_projection('audit')"; do
  out=$(rq "$acme" "$sql" 2>&1) && fail "acme's reader was allowed: $sql"
  grep -Eq 'permission denied|must be superuser' <<<"$out" || fail "$sql as a reader: $out"
done
# a reader login mapped to no tenant sees nothing
qsu "CREATE ROLE stray LOGIN PASSWORD 'stray-pw' IN ROLE switchboard_reader"
stray=$(sed 's|//sb_reader_acme:[^@]*@|//stray:stray-pw@|' <<<"$acme")
[ "$(rq "$stray" 'SELECT count(*) FROM audit.events')" = 0 ] || fail "an unmapped reader sees rows"

# ---- production: an owner that is not a superuser migrates, up works as ----
# the application role (the README's set-up, in a database of its own on
# this cluster, where the roles exist already)
port=$(sed -n 's/^port = //p' "$state")
qsu "CREATE ROLE sb_owner LOGIN CREATEROLE PASSWORD 'owner-pw'"
qsu "CREATE DATABASE prod OWNER sb_owner"
owner_url="postgresql://sb_owner:owner-pw@127.0.0.1:$port/prod"
app_prod=$(sed 's|/switchboard$|/prod|' <<<"$db")
expect_error 1 "run \`switchboard migrate\` with the database owner's URL" \
  "$SB" migrate --database-url "$app_prod" --data-dir "$work/prod"
"$SB" migrate --database-url "$owner_url" --data-dir "$work/prod" >"$work/pmigrate.out" 2>"$work/pmigrate.err" ||
  fail "migrate as a non-superuser owner: $(cat "$work/pmigrate.err")"
grep -Eq '^migrations: ([0-9]+) applied, \1 known$' "$work/pmigrate.out" || fail "migrate: $(cat "$work/pmigrate.out")"
[ "$(psql "$owner_url" -XAtqc "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'
  AND nspowner = 'sb_owner'::regrole")" = 1 ] || fail "migrate did not create the audit projection as the owner"
"$SB" up --data-dir "$work/prod" --database-url "$app_prod" --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED" \
  >"$work/prod.out" 2>"$work/prod.err" &
ppid=$!
for _ in $(seq 1 300); do
  grep -q '^postgres: ' "$work/prod.out" && break
  kill -0 "$ppid" 2>/dev/null || fail "production up exited: $(tail -3 "$work/prod.err")"
  sleep 0.1
done
grep -qxF "postgres: $(sed 's|://\([^:]*\):[^@]*@|://\1:****@|' <<<"$app_prod")" "$work/prod.out" ||
  fail "production up: $(cat "$work/prod.out")"
gen -n 50 -p PPPP -t acme,globex >"$work/prod.ndjson"
"$SB" import "$work/prod.ndjson" --data-dir "$work/prod" >/dev/null 2>&1 || fail "import into production up"
deadline=$((SECONDS + 30))
while [ "$(psql "$app_prod" -XAtqc 'SELECT count(*) FROM audit.events')" -lt 50 ] &&
  [ $SECONDS -lt $deadline ]; do sleep 0.3; done
[ "$(psql "$app_prod" -XAtqc 'SELECT count(*) FROM audit.events')" = 50 ] ||
  fail "production up as the application role did not audit the 50 events"
grep -q 'superuser' "$work/prod.err" && fail "production up warned: $(grep superuser "$work/prod.err")"
kill -TERM "$ppid"
wait "$ppid" || fail "production up exited non-zero"

# ---- a restart keeps the same application URL -------------------------------
old_db=$db
stop_up
start_up --partitions 3 --processors "$SB_PROCESSORS_NO_DERIVED"
[ "$db" = "$old_db" ] || fail "the application URL changed across a restart"
no_supw "$work/up.out" "$work/up.err" "$dd/runtime.conf"
[ "$(q 'SELECT count(*) FROM audit.events')" = 300 ] || fail "rows after the restart"
[ "$(rq "$acme" 'SELECT count(*) FROM audit.events')" = "$want" ] || fail "acme's reader after the restart"
stop_up
echo "roles: all checks passed"
