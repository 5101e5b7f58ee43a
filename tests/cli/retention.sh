#!/usr/bin/env bash
# Retention, end to end (`up` with every processor, policies run every 2 s):
#  - a policy is an admin's to post: a manager is refused 403, a bad class or
#    days out of range 400 naming the field;
#  - security (30 days) purges acme's failures older than 30 days and keeps
#    the newer ones and globex's; access (30 days) its old per-day reads;
#    retention.purged says exactly what went, once (later runs remove
#    nothing and emit nothing);
#  - an old event imported after the purge is not written, and a replay of
#    security from earliest does not bring the purged rows back;
#  - subject (365 days): a data subject whose key sealed nothing for 400
#    days is shredded (subject.erased, trigger retention), their fields read
#    sbx1.erased in `audit export --pii clear`, another subject's still
#    decrypt, and `audit verify` passes.
. "$(dirname "$0")/lib.sh"
start_up --partitions 2 --http-listen 127.0.0.1:0 --set retention.interval_s=2
base=$url
admin=$("$SB" token --data-dir "$dd" --tenant acme --role admin --sub dpo-1)
manager=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
sadmin=$("$SB" token --data-dir "$dd" --tenant shred --role admin --sub dpo-2)
post() { # post TOKEN WANT_STATUS JSON
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data-binary "$3" "$base/v1/events")
  [ "$status" = "$2" ] || fail "post: $status (want $2) $(cat "$work/body") for $3"
}
policy() { # policy CLASS DAYS
  printf '{"specversion":"1.0","type":"retention.policy_set","source":"test://dpo","subject":"%s","time":"%s","data":{"class":"%s","days":%s,"set_by":"dpo-1"}}' "$1" "$(date -u +%FT%TZ)" "$1" "$2"
}
wait_rows() { # wait_rows SQL N
  for _ in $(seq 1 150); do
    [ "$(q "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "waited for $2 rows of: $1 (have $(q "$1" 2>&1))"
}

# ---- bad policies: refused at ingest ------------------------------------------
post "$manager" 403 "$(policy security 30)"
post "$admin" 400 "$(policy security -1)"
grep -q 'data.days: -1 is out of range \[0, 36500\]' "$work/body" || fail "days -1: $(cat "$work/body")"
post "$admin" 400 "$(policy security 40000)"
grep -q 'data.days: 40000 is out of range' "$work/body" || fail "days 40000: $(cat "$work/body")"
post "$admin" 400 "$(policy calls 30)"
grep -q "'calls' is not one of lead, call" "$work/body" || fail "class calls: $(cat "$work/body")"
post "$admin" 403 '{"specversion":"1.0","type":"retention.purged","source":"x","subject":"call","data":{}}'

# ---- rows to purge: imported history -------------------------------------------
gen() { # gen TENANT DAYS_AGO N: N failures and N reads, DAYS_AGO old
  /usr/bin/python3 - "$@" <<'EOF'
import datetime, json, sys
tenant, ago, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=ago)
for i in range(n):
    ts = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for kind in ("f", "r"):
        e = {"specversion": "1.0", "source": "test://hist",
             "subject": "u%d" % i, "time": ts, "tenantid": tenant}
        if kind == "f":
            e["type"] = "security.login_failed"
            e["data"] = {"user_id": "u%d" % i, "reason": "bad_credentials", "ip": "10.0.0.%d" % i}
        else:
            e["type"] = "access.recorded"
            e["data"] = {"user_id": "u%d" % i, "action": "READ", "resource_type": "projection",
                         "resource_id": "audit.events", "records_count": 1}
        print(json.dumps(e))
EOF
}
{
  gen acme 40 5 # purged
  gen acme 10 3 # kept
  gen globex 40 4 # another tenant: kept
} >"$work/hist.ndjson"
"$SB" import "$work/hist.ndjson" --data-dir "$dd" >"$work/import.out" 2>&1 ||
  fail "import: $(cat "$work/import.out")"
grep -q 'accepted: 24, rejected: 0' "$work/import.out" || fail "import: $(cat "$work/import.out")"
wait_rows "SELECT count(*) FROM security.failures" 12
wait_rows "SELECT coalesce(sum(reads), 0) FROM security.access" 12
acme_days_old=$(q "SELECT count(*) FROM security.access WHERE tenant_id = 'acme' AND day < current_date - 30")
[ "$acme_days_old" -ge 1 ] || fail "no old access rows"

# ---- the policies run -----------------------------------------------------------
post "$admin" 202 "$(policy security 30)"
post "$admin" 202 "$(policy access 30)"
wait_rows "SELECT count(*) FROM retention.purges WHERE tenant_id = 'acme' AND class = 'security'" 1
wait_rows "SELECT count(*) FROM retention.purges WHERE tenant_id = 'acme' AND class = 'access'" 1
# the imported ones (the refusals above are failures too, recorded now)
acme_failures() { q "SELECT count(*) FROM security.failures WHERE tenant_id = 'acme' AND ip LIKE '10.0.0.%'"; }
[ "$(acme_failures)" = 3 ] || fail "acme failures left: $(acme_failures)"
[ "$(q "SELECT count(*) FROM security.failures WHERE tenant_id = 'globex'")" = 4 ] || fail "globex's failures were touched"
[ "$(q "SELECT count(*) FROM security.access WHERE tenant_id = 'acme' AND day < current_date - 30")" = 0 ] ||
  fail "old access rows left"
[ "$(q "SELECT sum(reads) FROM security.access WHERE tenant_id = 'acme'")" = 3 ] || fail "new access rows lost"
sleep 5 # a few more runs: nothing left, nothing emitted
[ "$(q "SELECT string_agg(class || ' ' || rows_purged || ' ' || tables, ', ' ORDER BY class) FROM retention.purges WHERE tenant_id = 'acme'")" = \
  "access $acme_days_old security.access=$acme_days_old, security 5 security.failures=5" ] ||
  fail "purges: $(q "SELECT class, rows_purged, tables FROM retention.purges")"
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'retention.purged'" 2
[ "$(q "SELECT count(DISTINCT event_id) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'retention.purged'")" = 2 ] ||
  fail "retention.purged more than once a class"
[ "$(q "SELECT count(*) FROM sb.retention_cutoffs WHERE tenant_id = 'acme'")" = 2 ] || fail "cutoffs not kept"

# ---- purged stays purged: an old event again, then a replay ------------------------
gen acme 45 2 >"$work/late.ndjson"
"$SB" import "$work/late.ndjson" --data-dir "$dd" >"$work/import2.out" 2>&1 || fail "import late"
gen acme 1 1 >"$work/new.ndjson"
"$SB" import "$work/new.ndjson" --data-dir "$dd" >"$work/import3.out" 2>&1 || fail "import new"
# one pipeline: the audit log has them once security's batch committed
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'security.login_failed'" 11
[ "$(acme_failures)" = 4 ] || fail "an event older than the cutoff was written"
"$SB" replay --data-dir "$dd" --processor security --from earliest >"$work/replay.out" 2>&1 ||
  fail "replay: $(tail -3 "$work/replay.out")"
[ "$(acme_failures)" = 4 ] || fail "the replay brought purged rows back: $(acme_failures)"
[ "$(q "SELECT count(*) FROM security.failures WHERE tenant_id = 'globex'")" = 4 ] || fail "globex after the replay"
[ "$(q "SELECT count(*) FROM security.access WHERE tenant_id = 'acme' AND day < current_date - 30")" = 0 ] ||
  fail "the replay brought old access rows back"

# ---- idle subjects shredded ------------------------------------------------------------
OLD_EMAIL="olga.idle@example.org" NEW_EMAIL="nina.active@example.org"
lead() { printf '{"specversion":"1.0","type":"lead.created","source":"crm://t","subject":"%s","time":"%s","data":{"email":"%s","first_name":"%s"}}' "$1" "$(date -u +%FT%TZ)" "$2" "$3"; }
post "$sadmin" 202 "$(lead lead-old "$OLD_EMAIL" Olga)"
wait_rows "SELECT count(*) FROM sb.data_keys WHERE tenant_id = 'shred'" 1
# four hundred days without sealing anything for lead-old (the key store
# marks a key used at most once a day: this is the mark of a long-idle key)
qsu "UPDATE sb.data_keys SET last_sealed_at = now() - interval '400 days' WHERE tenant_id = 'shred'" >/dev/null
post "$sadmin" 202 "$(lead lead-new "$NEW_EMAIL" Nina)"
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'shred'" 2
post "$sadmin" 202 "$(policy subject 365)"
wait_rows "SELECT count(*) FROM gdpr.erasures WHERE tenant_id = 'shred' AND trigger = 'retention'" 1
wait_rows "SELECT count(*) FROM retention.purges WHERE tenant_id = 'shred' AND class = 'subject' AND subjects_shredded = 1" 1
[ "$(q "SELECT count(*) FROM sb.data_keys WHERE tenant_id = 'shred' AND erased_at IS NOT NULL")" = 1 ] ||
  fail "keys erased: $(q "SELECT subject_hash, erased_at FROM sb.data_keys WHERE tenant_id = 'shred'")"
"$SB" audit export --data-dir "$dd" --tenant shred --pii clear >"$work/export.ndjson" 2>"$work/export.err" ||
  fail "audit export: $(cat "$work/export.err")"
! grep -qF "$OLD_EMAIL" "$work/export.ndjson" || fail "the idle subject's e-mail still decrypts"
grep '"subject":"lead-old"' "$work/export.ndjson" | grep -q '"email":"sbx1.erased"' || fail "lead-old's e-mail does not read sbx1.erased"
grep -qF "$NEW_EMAIL" "$work/export.ndjson" || fail "the active subject's e-mail no longer decrypts"
grep '"type":"subject.erased"' "$work/export.ndjson" | grep -q '"trigger":"retention"' || fail "no subject.erased"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"
stop_up
! grep -q 'runtime error\|ERROR: AddressSanitizer' "$work/up.err" || fail "sanitizer: $(grep -m3 'runtime error\|AddressSanitizer' "$work/up.err")"
echo "retention: all checks passed"
