#!/usr/bin/env bash
# Refused tokens do not each write a permanent record (issue 10, item 9):
# 300,000 requests with a missing, malformed or forged token, pipelined from
# one client, are all answered 401 and counted in /metrics, but recorded on
# sb.compliance as a bounded number of security.login_failed events — the
# first of the window at once, the rest as one event per window whose
# attempts carry the count — so that the attempts of the records add up to
# every refusal. `up` stays bounded in memory (VmRSS measured during the
# attack). Records are decoded with Debian's python3-avro.
# Every check runs; the test fails at the end naming each that did not hold.
. "$(dirname "$0")/lib.sh"
# memory is measured: under AddressSanitizer, freed blocks are not to wait in
# its quarantine (256 MiB by default) as if they were still held
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
PY=/usr/bin/python3 # the python3 with python3-avro (not a pyenv one on PATH)
ABUSE="$PY $(dirname "$0")/conn_abuse.py"
schemas=$(cd "$(dirname "$0")/../../schemas" && pwd)
problems=()
check() { # check MESSAGE TEST-ARGS...: records MESSAGE unless [ TEST-ARGS ]
  local msg=$1
  shift
  [ "$@" ] || { problems+=("$msg"); echo "NOT OK: $msg" >&2; }
}
"$PY" -c 'import avro.io, avro.schema' 2>/dev/null ||
  fail "$PY cannot import avro: apt-get install python3-avro"

N=300000
export SWITCHBOARD_SECURITY_REFUSAL_WINDOW_MS=2000
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
hostport=${url#http://}
started=$(date +%s)
out=$($ABUSE refuse "${hostport%:*}" "${hostport##*:}" "$pid" $N 250)
echo "refusals: $out"
read -r _ sent _ unauthorized _ base _ peak <<<"$out"
grew=$(((peak - base) / 1024))
check "sent $sent of $N requests" "$sent" -eq $N
check "$unauthorized of $sent answered 401" "$unauthorized" -eq "$sent"
check "up grew by $grew MiB under $N refused tokens (bound: 64 MiB)" "$grew" -lt 64
check "up reached $((peak / 1024)) MiB (bound: 300 MiB)" "$peak" -lt $((300 * 1024))

# metrics count every refusal
sleep 3 # past the end of the last window
elapsed=$(($(date +%s) - started))
counted=$(curl -s "$url/metrics" | sed -n \
  's/^switchboard_ingest_rejected_total{reason="\(missing\|malformed\|bad_signature\|bad_alg\|bad_claims\)"} //p' |
  awk '{ s += $1 } END { print s + 0 }')
check "metrics counted $counted refusals, want $sent" "${counted:-0}" -eq "$sent"

# the records: at most two per window of 2 s (the first at once, the rest
# at the window's end)
records() {
  timeout 60 kcat -C -b "$kafka" -t sb.compliance -o beginning -e -q "$@" \
    2>>"$work/kcat.err"
}
n=$(records -f '%h\n' | grep -c 'ce_type=security.login_failed' || true)
most=$((2 * (elapsed / 2 + 2)))
echo "records: $n security.login_failed in ${elapsed}s"
check "$n security.login_failed records for $sent refusals in ${elapsed}s (bound: $most)" \
  "$n" -le "$most"
if [ "$n" -le "$most" ]; then
  records -f '%R%s' >"$work/records.bin"
  summary=$("$PY" - "$schemas" "$work/records.bin" <<'PYEOF'
import io, json, os, struct, sys
import avro.io, avro.schema
schemas, path = sys.argv[1], sys.argv[2]
manifest = {}
for line in open(os.path.join(schemas, "manifest.tsv")).read().splitlines()[1:]:
    i, t, f = line.split("\t")
    manifest[int(i)] = (t, avro.schema.parse(open(os.path.join(schemas, f)).read()))
raw = open(path, "rb").read()
pos, records, attempts, bad = 0, 0, 0, []
while pos < len(raw):
    (n,) = struct.unpack(">i", raw[pos:pos + 4])
    payload = raw[pos + 4:pos + 4 + n]
    pos += 4 + n
    (sid,) = struct.unpack(">I", payload[1:5])
    typ, schema = manifest[sid]
    if typ != "security.login_failed":
        continue
    rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(payload[5:])))
    records += 1
    a = rec.get("attempts") or 1
    attempts += a
    if rec.get("ip") != "127.0.0.1" or rec.get("user_agent") != "refuse/1" or \
       rec.get("reason") != "bad_credentials":
        bad.append(rec)
print("RECORDS %d ATTEMPTS %d BAD %d %s" % (records, attempts, len(bad), json.dumps(bad[:1], default=str)))
PYEOF
  ) || fail "decoding the records: $summary"
  echo "$summary"
  read -r _ decoded _ attempts _ wrong _ <<<"$summary"
  check "the records' attempts add up to $attempts, want $sent ($summary)" \
    "$attempts" -eq "$sent"
  check "records not of the attacker's address, agent and reason: $summary" \
    "$wrong" -eq 0
fi

[ ${#problems[@]} -eq 0 ] || fail "$(printf '%s; ' "${problems[@]}")"
stop_up
echo "refusals: all checks passed"
