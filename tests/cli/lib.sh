# Helpers for the command-line tests. Source it; $1 of the test is the
# switchboard binary.
set -euo pipefail
SB=$1
# parallel tests each get their own HTTP port
export SWITCHBOARD_HTTP_LISTEN=${SWITCHBOARD_HTTP_LISTEN:-127.0.0.1:0}
mkdir -p "${SB_TEST_TMP:-/tmp}"
work=$(mktemp -d "${SB_TEST_TMP:-/tmp}/cli-XXXXXX")
chmod 755 "$work" # the private server's user must reach data dirs inside

fail() {
  echo "FAIL: $*" >&2
  [ -n "${SB_TEST_KEEP:-}" ] && cp -r "$work" "$SB_TEST_KEEP" 2>/dev/null
  for f in "$work"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}

# expect_error CODE TEXT CMD...: CMD exits with CODE and writes exactly one
# line to stderr, which contains TEXT.
expect_error() {
  local want=$1 text=$2 rc=0
  shift 2
  "$@" >"$work/expect.out" 2>"$work/expect.err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, want $want: $* ($(cat "$work/expect.err"))"
  [ "$(wc -l <"$work/expect.err")" -eq 1 ] ||
    fail "stderr is not one line for: $*"$'\n'"$(cat "$work/expect.err")"
  grep -qF -- "$text" "$work/expect.err" ||
    fail "stderr lacks '$text': $(cat "$work/expect.err")"
}

# A `switchboard up` in the background, for the tests that talk to it:
#   start_up [UP ARGS...]   starts it on data dir $dd and waits for its lines;
#                           sets pid, kafka, db, url (the HTTP API, "" with
#                           it off)
#   q SQL                   one query to $db (the application role, as
#                           runtime.conf has it), unaligned
#   qsu SQL                 one query as the private server's superuser
#                           (DDL, tampering): its URL assembled from
#                           $dd/postgres.state (0600), as nothing prints it
#   stop_up                 SIGTERM, and fails unless it exits 0
# The default cleanup stops it and the private PostgreSQL, and removes $work;
# a test with more to clean defines cleanup_extra.
dd=$work/data
pid=
url=
db=
cleanup_extra() { :; }
cleanup() {
  cleanup_extra || true
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

start_up() {
  # emptied here, not only by the background job's redirection, which may
  # come after the wait below has read a restarted up's old lines
  : >"$work/up.out"
  "$SB" up --data-dir "$dd" "$@" >"$work/up.out" 2>"$work/up.err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^postgres: ' "$work/up.out" && break # the lines come in one write
    kill -0 "$pid" 2>/dev/null || fail "up exited early"
    sleep 0.1
  done
  grep -q '^postgres: ' "$work/up.out" || fail "up printed nothing in 60 s"
  kafka=$(sed -n 's/^kafka: //p' "$work/up.out")
  # the full URL is in runtime.conf (0600): up prints it without password
  db=$(sed -n 's/^database_url = //p' "$dd/runtime.conf")
  url=$(sed -n 's/^http: //p' "$work/up.out")
  [ -n "$kafka" ] || fail "no kafka line"
}

q() { psql "$db" -XAtqc "$1"; }

# su_url: the superuser's URL of the private server of $dd
su_url() {
  local port pw
  port=$(sed -n 's/^port = //p' "$dd/postgres.state")
  pw=$(sed -n 's/^password = //p' "$dd/postgres.state")
  [ -n "$port" ] && [ -n "$pw" ] || fail "no port and password in $dd/postgres.state"
  echo "postgresql://switchboard:$pw@127.0.0.1:$port/switchboard"
}
qsu() { psql "$(su_url)" -XAtqc "$1"; }

# tamper SQL: as the superuser, with audit.events' append-only trigger off
# for the statement (the tests that change the audit log behind its back)
tamper() {
  psql "$(su_url)" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<EOF || fail "tampering failed: $1"
ALTER TABLE audit.events DISABLE TRIGGER append_only;
$1;
ALTER TABLE audit.events ENABLE TRIGGER append_only;
EOF
}

# offsets_at_end GROUP PARTITIONS TOPIC...: the offsets stored for GROUP in
# sb.consumer_offsets are the end of every partition (the high watermarks,
# from kcat -Q; a partition with no records may have no stored offset)
offsets_at_end() {
  local group=$1 n=$2 args=() t p
  shift 2
  for t in "$@"; do
    for p in $(seq 0 $((n - 1))); do args+=(-t "$t:$p:-1"); done
  done
  timeout 20 kcat -Q -b "$kafka" "${args[@]}" 2>"$work/kcatq.log" |
    sed -n 's/^\([^ ]*\) \[\([0-9]*\)\] offset \([0-9]*\)$/\1 \2 \3/p' | sort >"$work/ends"
  [ "$(wc -l <"$work/ends")" -eq $(($# * n)) ] ||
    fail "kcat -Q gave $(wc -l <"$work/ends") end offsets, want $(($# * n)): $(cat "$work/kcatq.log")"
  q "SELECT topic || ' ' || partition || ' ' || next_offset FROM sb.consumer_offsets
     WHERE consumer_group = '$group' AND next_offset > 0" | sort >"$work/stored"
  grep -v ' 0$' "$work/ends" >"$work/ends.nonzero" || true
  cmp -s "$work/ends.nonzero" "$work/stored" ||
    fail "offsets of $group are not at the end: $(diff "$work/ends.nonzero" "$work/stored" | head -6)"
}


stop_up() {
  kill -TERM "$pid"
  wait "$pid" || fail "up exited non-zero"
  pid=
}

# The processors `up` runs but routing, whose derived events (lead.scored
# and lead.engaged for the generators' leads, calls and messages) the tests
# comparing the audit log with what they imported do not expect:
# start_up --processors "$SB_PROCESSORS_NO_DERIVED".
SB_PROCESSORS_NO_DERIVED=audit,compliance,gdpr,rbac,security
