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
#                           sets pid, url (the HTTP API, "" with it off), db
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
  "$SB" up --data-dir "$dd" "$@" >"$work/up.out" 2>"$work/up.err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^postgres: ' "$work/up.out" && break # the lines come in one write
    kill -0 "$pid" 2>/dev/null || fail "up exited early"
    sleep 0.1
  done
  grep -q '^postgres: ' "$work/up.out" || fail "up printed nothing in 60 s"
  url=$(sed -n 's/^http: //p' "$work/up.out")
  db=$(sed -n 's/^postgres: //p' "$work/up.out")
}

stop_up() {
  kill -TERM "$pid"
  wait "$pid" || fail "up exited non-zero"
  pid=
}
