#!/usr/bin/env bash
# The Schema Registry API on a running `up`, as Confluent's clients use it:
#   - GET /v1/openapi.json serves connectors/api/openapi.json, byte for byte;
#   - the registry refuses a request without a token (401), with a bad one,
#     and answers with a token as Basic auth's password or as Bearer;
#   - unknown id 40403, unknown subject 40401, a held schema's id looked up,
#     and by Confluent's serializer, whose record its deserializer reads back;
#   - events posted over HTTP, their records read raw from Kafka with kcat,
#     decoded by Confluent's own JavaScript deserializer
#     (@confluentinc/schemaregistry, pinned in tests/npm) given only the
#     registry's URL and a token (no schema file), with the strategy the
#     README gives and with the deserializer's default: every field equals
#     what was posted.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v kcat >/dev/null || fail "kcat not found: apt-get install kcat"
npmdir=$("$root/tests/npm/install.sh" "${SB_NPM_DIR:-$work/npm}") ||
  fail "cannot install the pinned npm packages (tests/npm)"

start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
[ -n "$url" ] || fail "no http line"
sr=$url/schema-registry
token=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-1)
manager=$("$SB" token --data-dir "$dd" --tenant acme --role manager)

get() { # get URL [curl args...] -> $status, $work/body, $work/headers
  local u=$1
  shift
  status=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" "$u")
}
body_has() { grep -qF -- "$1" "$work/body" || fail "body lacks '$1': $(head -c 600 "$work/body")"; }

# the document, as checked in, to anyone
get "$url/v1/openapi.json"
[ "$status" = 200 ] || fail "openapi.json: $status"
cmp -s "$work/body" "$root/connectors/api/openapi.json" ||
  fail "GET /v1/openapi.json is not connectors/api/openapi.json"
grep -qi '^content-type: application/json' "$work/headers" || fail "openapi content type"

# authentication: a token, as Basic's password (any user) or as Bearer
get "$sr/subjects"
[ "$status" = 401 ] || fail "no token: $status $(cat "$work/body")"
body_has '{"error_code":401,"message":"missing: ' # Confluent's form
grep -qi '^content-type: application/vnd.schemaregistry.v1+json' "$work/headers" ||
  fail "401 content type: $(cat "$work/headers")"
get "$sr/schemas/ids/1" -u "sb:not-a-token"
[ "$status" = 401 ] || fail "bad token as password: $status"
get "$sr/schemas/ids/1" -u "sb:${token}x"
[ "$status" = 401 ] || fail "forged token: $status"
get "$sr/schemas/ids/1" -H "Authorization: Basic !!!"
[ "$status" = 401 ] || fail "garbage Basic: $status"
get "$sr/schemas/ids/1" -u "anyone:$token"
[ "$status" = 200 ] || fail "token as password: $status $(cat "$work/body")"
grep -qi '^content-type: application/vnd.schemaregistry.v1+json' "$work/headers" ||
  fail "registry content type: $(cat "$work/headers")"
body_has '"schema":"{'
get "$sr/subjects" -H "Authorization: Bearer $manager"
[ "$status" = 200 ] || fail "bearer: $status"
body_has '"switchboard.events.LeadCreated"'

# Confluent's errors
get "$sr/schemas/ids/999999" -u "sb:$token"
[ "$status" = 404 ] && body_has '"error_code":40403' || fail "unknown id: $status"
get "$sr/subjects/sb.leads-value/versions" -u "sb:$token"
[ "$status" = 404 ] && body_has '"error_code":40401' || fail "unknown subject: $status"
get "$sr/subjects/switchboard.events.LeadCreated/versions/0" -u "sb:$token"
[ "$status" = 422 ] && body_has '"error_code":42202' || fail "version 0: $status"
get "$sr/subjects/switchboard.events.LeadCreated/versions" -u "sb:$token"
[ "$status" = 200 ] || fail "versions: $status"
nv=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/body")

# a producer holding lead.created.v2.avsc (id 60) looks its id up
"$PY" -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' \
  "$root/schemas/lead.created.v2.avsc" >"$work/held.json"
get "$sr/subjects/switchboard.events.LeadCreated?normalize=false" -u "sb:$token" \
  -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data-binary @"$work/held.json"
[ "$status" = 200 ] && body_has '"id":60' && body_has '"version":2' ||
  fail "lookup of a held schema: $status $(head -c 300 "$work/body")"
get "$sr/subjects/switchboard.events.CallStarted" -u "sb:$token" \
  -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data-binary @"$work/held.json"
[ "$status" = 404 ] && body_has '"error_code":40403' || fail "lookup under another subject: $status"
get "$sr/compatibility/subjects/switchboard.events.LeadCreated/versions/latest" \
  -u "sb:$token" -H 'Content-Type: application/json' --data-binary @"$work/held.json"
[ "$status" = 200 ] && body_has '"is_compatible":' || fail "compatibility: $status"

# a producer writing Avro straight to Kafka: Confluent's client looks up
# the id of the schema file it holds (the newest lead.created here) and
# serializes with it; the deserializer reads the bytes back
newest=$(awk -F'\t' '$2 == "lead.created" && $1 > m { m = $1 } END { print m }' \
  "$root/schemas/manifest.tsv")
file=$(awk -F'\t' -v id="$newest" '$1 == id { print $3 }' "$root/schemas/manifest.tsv")
rec='{"tenant_id":"acme","event_id":"01JDQ7ZV3K8YQ2W5N6P7R8S9T0","occurred_at":1764000000000000,"source":"kafka://producer","lead_id":"lead-k-1","company":"Kafka Co","priority":2}'
node "$npmdir/produce.mjs" "$sr" "$token" "$root/schemas/$file" \
  switchboard.events.LeadCreated "$rec" >"$work/produced" 2>"$work/produce.err" ||
  fail "Confluent's serializer: $(head -c 1500 "$work/produce.err")"
want=$(printf '"id":%d,"same":true,"hex":"00%08x' "$newest" "$newest")
grep -qF "$want" "$work/produced" || fail "serialized: $(cat "$work/produced"), want $want"

# events of three topics over HTTP
now=$(date -u +%FT%T.123456Z)
cat >"$work/events.json" <<JSON
[{"specversion":"1.0","type":"lead.created","source":"crm://sr","subject":"lead-sr-1","time":"$now",
  "data":{"lead_source":"web_form","company":"Ac\u00e9me","tags":["a","b"],"priority":3,"estimated_value_cents":12345678901}},
 {"specversion":"1.0","type":"agent.state_changed","source":"acd://sr","subject":"agent-1","time":"$now",
  "data":{"state":"available","queue_id":"q-1"}},
 {"specversion":"1.0","type":"call.started","source":"pbx://sr","subject":"call-sr-1","time":"$now",
  "data":{"direction":"inbound","did":"+14155550100","attempt_number":2}}]
JSON
status=$(curl -s -o "$work/posted" -w '%{http_code}' -H "Authorization: Bearer $manager" \
  -H 'Content-Type: application/cloudevents-batch+json' --data-binary @"$work/events.json" "$url/v1/events")
[ "$status" = 202 ] || fail "post: $status $(cat "$work/posted")"

for t in sb.leads sb.agents sb.calls; do
  timeout 20 kcat -C -b "$kafka" -t "$t" -o beginning -e -q -f '%t %o %S\n%s\n' \
    >>"$work/records.bin" 2>"$work/kcat.err" || fail "kcat $t: $(cat "$work/kcat.err")"
done

for strategy in record default; do
  node "$npmdir/decode.mjs" "$sr" "$token" "$strategy" "$work/records.bin" \
    >"$work/decoded.$strategy" 2>"$work/decode.err" ||
    fail "Confluent's deserializer ($strategy): $(head -c 1500 "$work/decode.err")"
  "$PY" - "$work/events.json" "$work/posted" "$work/decoded.$strategy" <<'PY' ||
import datetime, json, sys
events = json.load(open(sys.argv[1]))
posted = json.load(open(sys.argv[2]))["accepted"]
decoded = [json.loads(l) for l in open(sys.argv[3])]
assert len(decoded) == 3, "want 3 records, got %d" % len(decoded)
ids = {p["index"]: p["id"] for p in posted}
subj = {"lead.created": "lead_id", "agent.state_changed": "agent_id",
        "call.started": "call_id"}
for i, ev in enumerate(events):
    got = [d["value"] for d in decoded if d["value"].get("event_id") == ids[i]]
    assert len(got) == 1, "event %d (%s) not decoded once" % (i, ids[i])
    v = got[0]
    t = datetime.datetime.strptime(ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    micros = (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // \
        datetime.timedelta(microseconds=1)
    want = dict(ev["data"], tenant_id="acme", source=ev["source"],
                occurred_at=micros, **{subj[ev["type"]]: ev["subject"]})
    for k, w in want.items():
        g = v.get(k)
        if isinstance(g, dict) and len(g) == 1:  # a union's branch, wrapped
            g = next(iter(g.values()))
        if isinstance(w, int) and isinstance(g, str):
            g = int(g)  # a long past 2^53 as text
        assert g == w, "%s.%s: %r != %r" % (ev["type"], k, g, w)
print("decoded %d records, every field as posted" % len(decoded))
PY
    fail "records decoded with the $strategy strategy differ from what was posted"
done
stop_up
echo "registry: ok ($nv versions of LeadCreated)"
