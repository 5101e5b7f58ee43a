# The dashboard's browser tests' runner: source after lib.sh.
#   dash_up [UP ARGS...]   start_up on a fixed free port (so that a restart
#                          serves the same origin); sets port
#   dash_restart [ARGS]    starts up again on it (after a kill)
#   dash_tokens NAME=ROLE:SUB[:TENANT]...   mints the tokens, exports SB_TOKENS
#   dash_run SCRIPT.mjs    runs tests/dashboard/SCRIPT.mjs with node, the
#                          pinned playwright-core and Debian's chromium
# Screenshots go to $SB_SHOTS (the build tree's dashboard-shots/ in ctest).
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (Debian: apt-get install nodejs npm; scripts/deps.sh)"
[ -x "${SB_CHROMIUM:-/usr/bin/chromium}" ] ||
  fail "chromium is needed for the browser tests (apt-get install chromium; scripts/deps.sh --tests)"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
npmdir=$("$root/tests/npm/install.sh" "${SB_NPM_DIR:-$work/npm}") ||
  fail "cannot install the pinned npm packages (tests/npm)"
# the test scripts next to node_modules, so that their imports resolve
dashdir=$npmdir/dashboard-$$
mkdir -p "$dashdir"
cp "$root"/tests/dashboard/*.mjs "$dashdir/"
export SB_SHOTS=${SB_SHOTS:-$work/shots}
up_args=()

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

dash_up() {
  port=$(free_port)
  up_args=("$@")
  start_up "$@" --http-listen "127.0.0.1:$port"
  export SB_URL=$url SB_UP_PID=$pid
}

# dash_restart: up again on the same data dir and port (the page's origin)
dash_restart() {
  start_up "${up_args[@]}" --http-listen "127.0.0.1:$port"
  [ "$url" = "$SB_URL" ] || fail "up came back on $url, not $SB_URL"
  export SB_UP_PID=$pid
}

dash_tokens() {
  local json="{" sep="" spec name role sub tenant
  for spec in "$@"; do
    name=${spec%%=*}
    IFS=: read -r role sub tenant <<<"${spec#*=}"
    t=$("$SB" token --data-dir "$dd" --tenant "${tenant:-acme}" --role "$role" --sub "$sub") ||
      fail "cannot mint a token for $spec"
    json+="$sep\"$name\":\"$t\""
    sep=","
  done
  export SB_TOKENS="$json}"
}

# dash_run SCRIPT [ARGS]: the script may ask, through control() of lib.mjs,
# for `kill` (SIGKILL up) and `restart` (dash_restart): requests are files
# in $SB_CTL, answered by a file once done.
dash_run() {
  local script=$1 node_pid rc=0 req n
  shift
  export SB_CTL=$work/ctl-$RANDOM
  mkdir -p "$SB_CTL"
  (cd "$dashdir" && exec node "$script" "$@") &
  node_pid=$!
  while kill -0 "$node_pid" 2>/dev/null; do
    for req in "$SB_CTL"/req-*; do
      [ -e "$req" ] || continue
      n=${req##*/req-}
      case $(cat "$req") in
      kill) kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid= ;;
      restart) dash_restart ;;
      *) fail "unknown control request $(cat "$req")" ;;
      esac
      rm -f "$req"
      echo "$SB_UP_PID" >"$SB_CTL/done-$n"
    done
    sleep 0.1
  done
  wait "$node_pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "browser test $script failed (exit $rc)"
}

cleanup_extra() { rm -rf "$dashdir"; }
