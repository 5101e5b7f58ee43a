# What the dispatcher's tests (dispatch.sh, dispatch_crash.sh) share,
# sourced after lib.sh: kcat at hand; the local providers
# (tests/cli/providers.py) on a self-signed certificate for 127.0.0.1 that
# the dispatcher trusts through dispatch.ca_file only; and their cleanup.
#   start_providers   starts them: sets prov, hport, sport, base and
#                     SWITCHBOARD_DISPATCH_CA_FILE (files made before it in
#                     $work, such as sa.pub, are theirs to read)
# A test running a `switchboard dispatch` of its own keeps its pid in dpid;
# the cleanup sends it $dpid_signal (TERM unless the test says KILL).
command -v kcat >/dev/null || fail "kcat not found: apt-get install kcat"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
  fail "aiosmtpd not found: apt-get install python3-aiosmtpd"

prov=
dpid=
dpid_signal=${dpid_signal:-TERM}
cleanup_extra() {
  [ -n "$dpid" ] && kill -"$dpid_signal" "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
  [ -n "$prov" ] && kill "$prov" 2>/dev/null && wait "$prov" 2>/dev/null
  return 0
}

start_providers() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" \
    -out "$work/cert.pem" 2>"$work/openssl.log" || fail "openssl: $(cat "$work/openssl.log")"
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/providers.py" "$work/cert.pem" \
    "$work/key.pem" "$work" 2>"$work/providers.err" &
  prov=$!
  for _ in $(seq 1 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
  [ -s "$work/ports" ] || fail "providers.py did not start: $(cat "$work/providers.err")"
  read -r hport sport <"$work/ports"
  base=https://127.0.0.1:$hport
  export SWITCHBOARD_DISPATCH_CA_FILE=$work/cert.pem
}
