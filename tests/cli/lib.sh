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
