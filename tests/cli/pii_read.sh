#!/usr/bin/env bash
# The read API reveals PII by role (issue 12, items 1 and 7), and `up`
# prints no secret:
#  - GET /v1/projection on a table with a PII column (kittest.contacts: a
#    lead's sealed phone and its agent, the owner column) answers the
#    plaintext to a manager, and to an agent its own rows only (the owner
#    column), the masked form to a supervisor; another tenant's token reads
#    no row; an erased subject's cell reads "sbx1.erased"; the table in the
#    database holds ciphertext only;
#  - a compliance table (consent evidence: subject_ip) reads clear for a
#    manager;
#  - a flood from one address (100 denied reads by distinct users, 100
#    distinct reads) is recorded as a bounded number of records (5 per
#    address and window at once, the rest one summary with their count)
#    whose attempts add up to every request; a second address is still
#    recorded; what was folded is counted in /metrics and logged;
#  - sign-ins (each a LOGIN record) from one address are bounded by a token
#    bucket (429 past it, counted in /metrics); another address signs in;
#  - the application role's password is on no line `up` printed (stdout,
#    stderr) nor in any log of the data directory: stdout shows the URL
#    masked, the full one is in runtime.conf (0600).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export SWITCHBOARD_PII_DEK_CACHE_TTL_MS=500 # an erasure shows within it
export SWITCHBOARD_SECURITY_REFUSAL_WINDOW_MS=2000 SWITCHBOARD_ACCESS_WINDOW_MS=2000
export SWITCHBOARD_SECURITY_RECORDS_PER_ADDRESS=5

start_up --partitions 2 --processors kittest,compliance,audit --http-listen 127.0.0.1:0
tok() { "$SB" token --data-dir "$dd" --tenant "${3:-acme}" --role "$1" ${2:+--sub "$2"}; }
admin=$(tok admin alice)
manager=$(tok manager mia)
supervisor=$(tok supervisor sam)
agent7=$(tok agent agent-7)
agent8=$(tok agent agent-8)
globex=$(tok admin bob globex)

now=$(date -u +%FT%TZ)
ce() { # ce TYPE SUBJECT DATA_JSON
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"%s","tenantid":"acme","data":%s}\n' "$1" "$2" "$now" "$3"
}
P1="+14155554567" P2="+442071234599" P3="+14155550188" IP="203.0.113.77"
{
  ce lead.created lead-1 "{\"lead_source\":\"web_form\",\"phone\":\"$P1\"}"
  ce lead.assigned lead-1 '{"lead_id":"lead-1","agent_id":"agent-7","strategy":"round_robin"}'
  ce lead.created lead-2 '{"lead_source":"web_form","phone":"+14155550000"}'
  ce lead.updated lead-2 "{\"changed_fields\":[\"phone\"],\"phone\":\"$P2\"}"
  ce lead.assigned lead-2 '{"lead_id":"lead-2","agent_id":"agent-8","strategy":"round_robin"}'
  ce lead.created lead-3 "{\"lead_source\":\"web_form\",\"phone\":\"$P3\"}"
  ce lead.assigned lead-3 '{"lead_id":"lead-3","agent_id":"agent-7","strategy":"round_robin"}'
  ce consent.given subj-1 "{\"subject_id\":\"subj-1\",\"purpose\":\"marketing\",\"channel\":\"sms\",\"method\":\"web_form\",\"consent_text_version\":\"v1\",\"subject_ip\":\"$IP\"}"
} >"$work/events.ndjson"
# imported (lead.assigned is the routing processor's: no role posts it);
# import seals PII as HTTP ingest does
"$SB" import "$work/events.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.out" "$work/import.err")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM kittest.contacts WHERE agent_id IS NOT NULL AND phone IS NOT NULL")" = 3 ] &&
    [ "$(q "SELECT count(*) FROM compliance.consent WHERE subject_ip IS NOT NULL")" = 1 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM kittest.contacts WHERE agent_id IS NOT NULL AND phone IS NOT NULL")" = 3 ] ||
  fail "kittest.contacts: $(q 'SELECT * FROM kittest.contacts')"
# stored sealed
[ "$(q "SELECT count(*) FROM kittest.contacts WHERE phone LIKE 'sbx1.%'")" = 3 ] ||
  fail "contacts not sealed: $(q 'SELECT phone FROM kittest.contacts')"
q "SELECT * FROM kittest.contacts; SELECT * FROM compliance.consent" | grep -qF -e "$P1" -e "$P2" -e "$IP" &&
  fail "plaintext in a projection"

# phones TOKEN TABLE [FILTERS]: "lead=phone ..." of the rows read, sorted
phones() {
  local s
  s=$(curl -s -o "$work/read" -w '%{http_code}' -H "Authorization: Bearer $1" \
    "$url/v1/projection?name=kittest.contacts${2:+&$2}")
  [ "$s" = 200 ] || fail "read as $1: $s $(cat "$work/read")"
  $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(sorted(r["lead_id"]+"="+r["phone"] for r in d["rows"])))' "$work/read"
}
want_clear="lead-1=$P1 lead-2=$P2 lead-3=$P3"
got=$(phones "$manager"); [ "$got" = "$want_clear" ] || fail "manager read: $got"
got=$(phones "$admin"); [ "$got" = "$want_clear" ] || fail "admin read: $got"
# an agent reads its own rows (the owner column), clear; a supervisor
# every row, masked
got=$(phones "$agent7"); [ "$got" = "lead-1=$P1 lead-3=$P3" ] || fail "agent-7 read: $got"
got=$(phones "$agent8"); [ "$got" = "lead-2=$P2" ] || fail "agent-8 read: $got"
got=$(phones "$supervisor"); [ "$got" = "lead-1=+1******4567 lead-2=+4*******4599 lead-3=+1******0188" ] || fail "supervisor read: $got"
# another tenant: nothing of acme's
got=$(phones "$globex"); [ -z "$got" ] || fail "globex read acme's rows: $got"
# a production table: the consent's evidence, clear for a manager
s=$(curl -s -o "$work/read" -w '%{http_code}' -H "Authorization: Bearer $manager" \
  "$url/v1/projection?name=compliance.consent&subject_id=subj-1")
[ "$s" = 200 ] && grep -qF "\"subject_ip\":\"$IP\"" "$work/read" || fail "compliance.consent: $s $(cat "$work/read")"

# erasure: the subject's cells read erased, the others' stay
"$SB" gdpr erase --data-dir "$dd" --tenant acme --subject lead-3 --request req-r1 \
  >"$work/erase.out" 2>"$work/erase.err" || fail "gdpr erase: $(cat "$work/erase.err")"
for _ in $(seq 1 50); do
  got=$(phones "$manager")
  [ "$got" = "lead-1=$P1 lead-2=$P2 lead-3=sbx1.erased" ] && break
  sleep 0.2
done
[ "$got" = "lead-1=$P1 lead-2=$P2 lead-3=sbx1.erased" ] || fail "after erasure: $got"

# ---- a flood from one address: bounded records, a summary, others recorded ----
# 100 denied reads (distinct agents) and 100 distinct reads from 127.0.0.3
# (an address of its own: the reads above came from 127.0.0.1), then one
# denied read from 127.0.0.2; per window 5 records per address at once, the
# rest one record with their count (attempts)
export_acme() { "$SB" audit export --data-dir "$dd" --tenant acme 2>/dev/null; }
started=$(date +%s)
$PY - "${url#http://}" "$(cat "$dd/jwt.secret")" "$agent7" "$admin" <<'PYEOF' || fail "the flood"
import base64, hashlib, hmac, http.client, json, sys
hostport, secret, agent, admin = sys.argv[1:5]
host, port = hostport.rsplit(":", 1)
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=")
def unb64(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
h, p, _ = agent.split(".")
claims = json.loads(unb64(p))
def token(sub):  # the agent's token for another user, signed as the CLI signs
    c = dict(claims, sub=sub)
    msg = h.encode() + b"." + b64(json.dumps(c, separators=(",", ":")).encode())
    return (msg + b"." + b64(hmac.new(bytes.fromhex(secret), msg, hashlib.sha256).digest())).decode()
def get(src, tok, query, want):
    c = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(src, 0))
    c.request("GET", "/v1/projection?" + query,
              headers={"Authorization": "Bearer " + tok, "User-Agent": "flood/2"})
    r = c.getresponse(); body = r.read(); c.close()
    if r.status != want:
        sys.exit("%s %s: %d %s" % (src, query, r.status, body[:200]))
for i in range(100):
    get("127.0.0.3", token("flood-agent-%d" % i), "name=audit.events", 403)
for i in range(100):
    get("127.0.0.3", admin, "name=kittest.contacts&lead_id=flood-%d" % i, 200)
get("127.0.0.2", token("other-agent"), "name=audit.events", 403)
PYEOF
sleep 4 # past the windows' end (2 s)
elapsed=$(($(date +%s) - started))
most=$(((elapsed / 2 + 2) * 6)) # windows × (5 at once + 1 summary)
count_flood() {
  export_acme | $PY -c '
import json, sys
n = {"denied": [0, 0], "read": [0, 0]}; other = 0
for line in sys.stdin:
    e = json.loads(line); d = e.get("data", {})
    ua = d.get("user_agent") or e.get("actoruseragent")
    ip = d.get("ip") or e.get("actorip")
    if ua != "flood/2": continue
    k = "denied" if e["type"] == "security.access_denied" else "read" if e["type"] == "access.recorded" else None
    if k is None: continue
    if ip == "127.0.0.2": other += 1; continue
    if ip != "127.0.0.3": continue
    n[k][0] += 1; n[k][1] += d.get("attempts") or 1
print(n["denied"][0], n["denied"][1], n["read"][0], n["read"][1], other)'
}
for _ in $(seq 1 100); do
  read -r dn da rn ra other <<<"$(count_flood)"
  [ "$da" = 100 ] && [ "$ra" = 100 ] && [ "$other" -ge 1 ] && break
  sleep 0.3
done
echo "flood: denied $dn records for $da, reads $rn records for $ra, other address $other (bound $most)"
[ "$da" = 100 ] || fail "the denied reads' records count $da, want 100"
[ "$ra" = 100 ] || fail "the reads' records count $ra, want 100: $(export_acme | grep '"access.recorded"' | tail -5)"
[ "$other" -ge 1 ] || fail "the second address was not recorded"
[ "$dn" -le "$most" ] && [ "$rn" -le "$most" ] || fail "$dn and $rn records in ${elapsed}s (bound $most)"
curl -s "$url/metrics" >"$work/metrics"
grep -q '^switchboard_security_records_suppressed_total{log="refusals"} [1-9]' "$work/metrics" &&
  grep -q '^switchboard_security_records_suppressed_total{log="reads"} [1-9]' "$work/metrics" ||
  fail "no suppressed records in /metrics: $(grep suppressed "$work/metrics")"
grep -q 'records from one address past its limit' "$work/up.err" || fail "no summary in the log"
# sign-ins (each a LOGIN record): 30 from one address, a token bucket of 5
# per window (2 s) lets through at most 5 + what refills meanwhile; the
# others are 429; another address still signs in
t0=$(date +%s%N)
ok=$($PY - "${url#http://}" "$manager" <<'PYEOF'
import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
def signin(src):
    c = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(src, 0))
    c.request("POST", "/v1/session", headers={"Authorization": "Bearer " + sys.argv[2]})
    r = c.getresponse(); r.read(); c.close()
    return r.status
st = [signin("127.0.0.4") for _ in range(30)]
bad = [s for s in st if s not in (201, 429)]
if bad or signin("127.0.0.5") != 201:
    sys.exit("statuses %s" % st)
print(st.count(201), st.count(429))
PYEOF
) || fail "sign-ins: $ok"
ms=$((($(date +%s%N) - t0) / 1000000))
read -r signed limited <<<"$ok"
echo "sign-ins: $signed signed in, $limited refused 429 in ${ms} ms"
[ "$limited" -ge 1 ] && [ "$signed" -le $((5 + ms * 5 / 2000 + 1)) ] ||
  fail "sign-ins not bounded: $signed in $ms ms"
# (into a file first: grep -q stops reading at its match, and curl, cut off,
# fails the pipeline under pipefail)
curl -s -m 30 "$url/metrics" >"$work/metrics" || true
grep -q '^switchboard_session_signins_limited_total [1-9]' "$work/metrics" ||
  fail "no limited sign-ins in /metrics"

# ---- no secret printed or logged ----------------------------------------------
full=$(sed -n 's/^database_url = //p' "$dd/runtime.conf")
pw=$(sed -n 's|^postgresql://[^:]*:\([^@]*\)@.*|\1|p' <<<"$full")
[ -n "$pw" ] || fail "no password in runtime.conf's database_url"
[ "$(stat -c %a "$dd/runtime.conf")" = 600 ] || fail "runtime.conf is not 0600"
grep -q '^postgres: postgresql://switchboard_app:\*\*\*\*@127.0.0.1:[0-9]*/' "$work/up.out" ||
  fail "up's postgres line: $(grep '^postgres' "$work/up.out")"
grep -rlF -- "$pw" "$work/up.out" "$work/up.err" "$work"/*.err "$work"/*.out && fail "the password was printed"
while IFS= read -r f; do
  grep -qF -- "$pw" "$f" && fail "the password is in $f"
done < <(find "$dd" -type f \( -name '*.log' -o -name '*.err' -o -name '*.out' \) 2>/dev/null)
stop_up
grep -qF -- "$pw" "$work/up.err" && fail "the password was logged at stop"
echo "pii_read: all checks passed"
