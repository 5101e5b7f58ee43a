#!/usr/bin/env bash
# The read API reveals PII by role (issue 12, items 1 and 7), and `up`
# prints no secret:
#  - GET /v1/projection on a table with a PII column (kittest.contacts: a
#    lead's sealed phone and its agent, the owner column) answers the
#    plaintext to a manager and to the agent who owns the row, the masked
#    form to another agent and a supervisor; another tenant's token reads
#    no row; an erased subject's cell reads "sbx1.erased"; the table in the
#    database holds ciphertext only;
#  - a compliance table (consent evidence: subject_ip) reads clear for a
#    manager;
#  - the application role's password is on no line `up` printed (stdout,
#    stderr) nor in any log of the data directory: stdout shows the URL
#    masked, the full one is in runtime.conf (0600).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export SWITCHBOARD_PII_DEK_CACHE_TTL_MS=500 # an erasure shows within it

start_up --partitions 2 --processors kittest,compliance --http-listen 127.0.0.1:0
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
# the owner sees its own leads clear, another's masked; another agent the reverse
got=$(phones "$agent7"); [ "$got" = "lead-1=$P1 lead-2=+4*******4599 lead-3=$P3" ] || fail "agent-7 read: $got"
got=$(phones "$agent8"); [ "$got" = "lead-1=+1******4567 lead-2=$P2 lead-3=+1******0188" ] || fail "agent-8 read: $got"
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
