# Helpers for the AMI connector's tests: source after lib.sh.
#   start_ami_server [SERVER ARGS...]  the suite's test AMI server
#                      (tests/ami/ami_server.py, users from $work/users, the
#                      lists of $flows/state_two_agents.ami): sets srv_pid,
#                      port (AMI), ctl_port (its control)
#   ctl COMMAND        one command to its control port; prints the answer
#   start_pbx SECRET   the server with user switchboard of SECRET, and the
#                      connector's $work/pbx (PBX eu1 of tenant acme) and
#                      $work/secrets (0600) for it
# The default cleanup stops it and ami_pid.
PY=/usr/bin/python3
ami_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flows=$ami_here/ami/flows
srv_pid=
ami_pid=
cleanup_extra() {
  [ -n "$ami_pid" ] && kill "$ami_pid" 2>/dev/null
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
  return 0
}

start_ami_server() {
  "$PY" "$ami_here/ami/ami_server.py" --port-file "$work/ports" \
    --users "$work/users" --state "$flows/state_two_agents.ami" "$@" \
    >"$work/server.out" 2>"$work/server.err" &
  srv_pid=$!
  for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.05; done
  [ -s "$work/ports" ] || fail "the test AMI server did not start"
  port=$(sed -n 1p "$work/ports")
  ctl_port=$(sed -n 2p "$work/ports")
}

ctl() {
  exec 9<>"/dev/tcp/127.0.0.1/$ctl_port"
  echo "$1" >&9
  read -r answer <&9
  exec 9>&-
  echo "$answer"
}

start_pbx() {
  printf 'switchboard %s\n' "$1" >"$work/users"
  start_ami_server
  printf 'name=eu1 host=127.0.0.1 port=%s tenant=acme user=switchboard\n' \
    "$port" >"$work/pbx"
  printf 'eu1 %s\n' "$1" >"$work/secrets"
  chmod 600 "$work/secrets"
}
