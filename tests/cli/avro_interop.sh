#!/usr/bin/env bash
# Our Kafka records decode with an independent Avro implementation: one
# CloudEvent of every event type (generated from schemas/*.avsc) goes through
# `switchboard import`; every record is read back from every domain topic
# with kcat and decoded by Debian's python3-avro, using only the Confluent
# framing and schemas/manifest.tsv. Fields, keys and the ce_type/ce_id
# headers must equal what was imported; sb.pii fields hold sbx1. envelopes
# (sealed by import) and the F_hmac beside an sb.match field 64 hex digits
# (and a phone's F_tz, where the schema has one, its area's zone; an
# address's when it is a phone).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # the python3 with python3-avro (not a pyenv one on PATH)
schemas=$(cd "$(dirname "$0")/../../schemas" && pwd)
dd=$work/data
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$PY" ] && "$PY" -c 'import avro.io, avro.schema' 2>/dev/null ||
  fail "$PY cannot import avro: apt-get install python3-avro"
command -v kcat >/dev/null || fail "kcat not found: apt-get install kcat"

"$SB" up --data-dir "$dd" --processors none --partitions 2 \
  >"$work/up.out" 2>"$work/up.err" &
pid=$!
for _ in $(seq 1 450); do
  grep -q '^postgres: ' "$work/up.out" && break
  kill -0 "$pid" 2>/dev/null || fail "up exited before printing its lines"
  sleep 0.1
done
grep -q '^postgres: ' "$work/up.out" || fail "up not ready within 45 s"
kafka=$(sed -n 's/^kafka: //p' "$work/up.out")
[ -n "$kafka" ] || fail "no kafka line"

# One event per type, every optional field filled. Also writes the list of
# domain topics (the schemas' sb.topic).
"$PY" - "$schemas" "$work/events.ndjson" "$work/topics" <<'EOF' ||
import json, os, random, sys

schemas, out, topics_out = sys.argv[1:4]
rng = random.Random(20261124)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

def ulid(ms):
    n = ms << 80 | rng.getrandbits(80)
    return "".join(CROCKFORD[n >> (5 * (25 - i)) & 31] for i in range(26))

TIMES = ["2026-11-24T18:00:00.123456Z", "2024-02-29T23:59:59.999Z",
         "1999-12-31T23:59:59Z", "2026-03-29T01:30:00.000001Z"]
manifest = [l.rstrip("\n").split("\t")
            for l in open(os.path.join(schemas, "manifest.tsv"))][1:]
topics, k = set(), 0

def value(t, field, named, full=True):
    global k
    k += 1
    if isinstance(t, list):
        other = [b for b in t if b != "null"]
        return value(other[0], field, named) if full else None
    if isinstance(t, str):
        if t in named:
            return value(named[t], field, named)
        if t == "string" and field.get("sb.match"):  # normalisable values
            return ("+1415555%04d" % k if field["sb.match"] == "phone" or
                    (field["sb.match"] == "address" and k % 2) else
                    "u%d@example.com" % k)
        if t == "string" and field.get("sb.oneOf"):
            return field["sb.oneOf"][k % len(field["sb.oneOf"])]
        if t in ("int", "long") and ("sb.minimum" in field or "sb.maximum" in field):
            return field.get("sb.maximum", field.get("sb.minimum"))
        if t == "string" and field.get("sb.format"):
            return {"timezone": "Asia/Kolkata", "currency": "EUR",
                    "locale": "pt-BR"}[field["sb.format"]]
        if t == "string":
            n = min(field.get("sb.maxLength", 40), 3 + k % 9)
            return ("v%d-\u00e9\u2713" % k + "x" * 20)[:n]
        if t == "int":
            return -123456 + k * 7
        if t == "long":
            return 4503599627370496 + k * 1001
        if t == "double":
            return k + 0.25
        if t == "boolean":
            return k % 2 == 0
        raise SystemExit("unsupported type %s" % t)
    kind = t["type"]
    if t.get("logicalType") == "timestamp-micros":
        return TIMES[k % len(TIMES)]
    if kind in ("record", "enum"):
        named[t["name"]] = named[t.get("namespace", "") + "." + t["name"]] = t
    if kind == "record":
        return {f["name"]: value(f["type"], f, named) for f in t["fields"]}
    if kind == "enum":
        return t["symbols"][k % len(t["symbols"])]
    if kind == "array":
        return [value(t["items"], field, named) for _ in range(2)]
    return value(kind, field, named)

# a type's newest schema (its last manifest line) is the one written
newest = {typ: (sid, typ, fn) for sid, typ, fn in manifest}
with open(out, "w") as f:
    for sid, typ, fn in newest.values():
        s = json.load(open(os.path.join(schemas, fn)))
        assert s["sb.type"] == typ, fn
        topics.add(s["sb.topic"])
        ce = {"specversion": "1.0", "type": typ, "id": ulid(1764000000000 + k),
              "tenantid": "t-%s" % sid}
        data, named = {}, {}
        matched = {f["name"] + "_hmac" for f in s["fields"] if f.get("sb.match")}
        matched |= {f["name"] + "_tz" for f in s["fields"]
                    if f.get("sb.match") in ("phone", "address")}  # the phone's area's zone
        for fld in s["fields"]:
            name = fld["name"]
            if name in ("tenant_id", "event_id") or name in matched:
                continue  # the server's: the envelope, and match HMACs
            v = value(fld["type"], fld, named)
            attr = {"occurred_at": "time", "source": "source",
                    "correlation_id": "correlationid",
                    "causation_id": "causationid"}.get(name)
            if attr:
                ce[attr] = v
            elif name == "actor":
                for a, av in v.items():
                    ce["actor" + a.replace("_", "")] = av
            elif name == s["sb.subject"]:
                ce["subject"] = v
            else:
                data[name] = v
        for fld in s["fields"]:  # an address checked by its channel
            if fld.get("sb.matchBy") == "channel" and fld["name"] in data:
                data[fld["name"]] = {
                    "sms": "+14155550100", "whatsapp": "+14155550101",
                    "email": "to@example.com", "slack": "C0123ABCD",
                    "push": "fcm-token-" + "a" * 40}[data[fld["sb.matchBy"]]]
        if s["sb.subject"] == "tenant_id":  # an event about the tenant
            ce["subject"] = ce["tenantid"]
        if "sb.changeList" in s:  # lists the fields given
            lst = s["sb.changeList"]
            data[lst] = [n for n in data if n != lst]
        ce["data"] = data
        f.write(json.dumps(ce, ensure_ascii=False) + "\n")
open(topics_out, "w").write("\n".join(sorted(topics)) + "\n")
EOF
  fail "cannot generate the events"
n=$(wc -l <"$work/events.ndjson")
ntypes=$(tail -n +2 "$schemas/manifest.tsv" | cut -f2 | sort -u | wc -l)
[ "$n" -eq "$ntypes" ] || fail "generated $n events, want $ntypes (one per event type)"

"$SB" import "$work/events.ndjson" --data-dir "$dd" >"$work/import.out" \
  2>"$work/import.err" || fail "import failed: $(cat "$work/import.out" "$work/import.err")"
grep -qx "accepted: $ntypes, rejected: 0" "$work/import.out" ||
  fail "import: $(cat "$work/import.out")"

# Every record of every domain topic, framed so that binary payloads survive:
# "REC topic partition offset keylen\n" key "\n" headers "\n" len32 payload
: >"$work/records.bin"
while read -r topic; do
  timeout 20 kcat -C -b "$kafka" -t "$topic" -o beginning -e -q -m 10 \
    -f 'REC %t %p %o %K\n%k\n%h\n%R%s' >>"$work/records.bin" \
    2>"$work/kcat.err" || fail "kcat -C $topic: $(cat "$work/kcat.err")"
done <"$work/topics"
dead=$(timeout 20 kcat -C -b "$kafka" -t sb.deadletter -o beginning -e -q \
  -m 10 -f '%o\n' 2>"$work/kcat.err") || fail "kcat sb.deadletter: $(cat "$work/kcat.err")"
[ -z "$dead" ] || fail "records went to sb.deadletter"

"$PY" - "$schemas" "$work/events.ndjson" "$work/records.bin" <<'EOF' ||
import datetime, io, json, os, struct, sys
import avro.io, avro.schema

schemas, events_path, records_path = sys.argv[1:4]
manifest = {int(l.split("\t")[0]): l.rstrip("\n").split("\t")[1:]
            for l in list(open(os.path.join(schemas, "manifest.tsv")))[1:]}
events = {}
for line in open(events_path, encoding="utf-8"):
    ce = json.loads(line)
    events[ce["id"]] = ce
problems = []

def bad(msg):
    problems.append(msg)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
SEALED, HMAC = "<an sbx1. envelope>", "<64 hex digits>"

def sealed(v):
    """What a PII value reads as in the log: every string an envelope."""
    if isinstance(v, str):
        return SEALED
    if isinstance(v, dict):
        return {k: sealed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [sealed(x) for x in v]
    return v

def same(got, exp):
    if exp == SEALED:
        return isinstance(got, str) and got.startswith("sbx1.") and len(got) > 40
    if exp == HMAC:
        return isinstance(got, str) and len(got) == 64 and all(
            c in "0123456789abcdef" for c in got)
    if isinstance(exp, dict) and isinstance(got, dict):
        return set(got) == set(exp) and all(same(got[k], exp[k]) for k in exp)
    if isinstance(exp, list) and isinstance(got, list):
        return len(got) == len(exp) and all(same(g, e) for g, e in zip(got, exp))
    return got == exp

def micros(text):
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (d - EPOCH) // datetime.timedelta(microseconds=1)

def plain(v):
    """The decoded value with timestamps as microseconds."""
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

def expected(v, t):
    """What the CE value v of schema type t decodes to in python-avro."""
    if isinstance(t, list):
        return None if v is None else expected(v, [b for b in t if b != "null"][0])
    if isinstance(t, dict) and t.get("logicalType") == "timestamp-micros":
        return micros(v)
    if isinstance(t, dict) and t["type"] == "record":
        return {f["name"]: expected(v.get(f["name"]), f["type"]) for f in t["fields"]}
    return v

raw = open(records_path, "rb").read()
pos, seen, parsed = 0, {}, {}
while pos < len(raw):
    nl = raw.index(b"\n", pos)
    head = raw[pos:nl].decode().split(" ")
    if head[0] != "REC" or len(head) != 5:
        sys.exit("cannot parse kcat output at byte %d: %r" % (pos, raw[pos:nl]))
    topic, part, off, klen = head[1], int(head[2]), int(head[3]), int(head[4])
    pos = nl + 1
    key = raw[pos:pos + max(klen, 0)].decode()
    pos += max(klen, 0) + 1
    nl = raw.index(b"\n", pos)
    headers = dict(h.split("=", 1) for h in raw[pos:nl].decode().split(",") if h)
    pos = nl + 1
    (plen,) = struct.unpack(">i", raw[pos:pos + 4])
    payload = raw[pos + 4:pos + 4 + plen]
    pos += 4 + plen
    where = "%s [%d] @%d" % (topic, part, off)
    if len(payload) < 5 or payload[0] != 0:
        bad("%s: not Confluent-framed: %r" % (where, payload[:8]))
        continue
    (sid,) = struct.unpack(">I", payload[1:5])
    if sid not in manifest:
        bad("%s: schema id %d is not in manifest.tsv" % (where, sid))
        continue
    typ, fn = manifest[sid]
    if fn not in parsed:
        text = open(os.path.join(schemas, fn)).read()
        parsed[fn] = (avro.schema.parse(text), json.loads(text))
    schema, sjson = parsed[fn]
    buf = io.BytesIO(payload[5:])
    try:
        rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    except Exception as e:
        bad("%s: python-avro cannot decode schema id %d (%s): %s" % (where, sid, typ, e))
        continue
    if buf.tell() != len(payload) - 5:
        bad("%s: %d bytes after the record" % (where, len(payload) - 5 - buf.tell()))
    rec = plain(rec)
    eid = rec.get("event_id")
    ce = events.get(eid)
    if ce is None:
        bad("%s: event_id %r was not imported" % (where, eid))
        continue
    seen[eid] = seen.get(eid, 0) + 1
    subj = sjson["sb.subject"]
    want = {
        "tenant_id": ce["tenantid"], "event_id": ce["id"],
        "occurred_at": micros(ce["time"]), "source": ce["source"],
        "correlation_id": ce.get("correlationid"),
        "causation_id": ce.get("causationid"), subj: ce["subject"],
        "actor": {"user_id": ce["actoruserid"], "role": ce["actorrole"],
                  "ip": ce["actorip"], "user_agent": ce["actoruseragent"]},
    }
    ftypes = {f["name"]: f["type"] for f in sjson["fields"]}
    for name, v in ce["data"].items():
        want[name] = expected(v, ftypes[name])
    for f in sjson["fields"]:  # PII: sealed; a matched field's HMAC beside
        if f.get("sb.pii") and f["name"] in want:
            want[f["name"]] = sealed(want[f["name"]])
        if f.get("sb.match") and ce["data"].get(f["name"]) is not None:
            want[f["name"] + "_hmac"] = HMAC
            if f["sb.match"] == "phone" and f["name"] + "_tz" in ftypes:
                want[f["name"] + "_tz"] = "America/Los_Angeles"  # +1 415
            # an address: its zone when it is a phone, null for an e-mail
            if f["sb.match"] == "address" and f["name"] + "_tz" in ftypes:
                want[f["name"] + "_tz"] = (None if "@" in ce["data"][f["name"]]
                                           else "America/Los_Angeles")
    checks = [("type", typ, ce["type"]), ("topic", topic, sjson["sb.topic"]),
              ("key", key, "%s:%s" % (ce["tenantid"], ce["subject"])),
              ("header ce_type", headers.get("ce_type"), ce["type"]),
              ("header ce_id", headers.get("ce_id"), ce["id"]),
              ("header sb-event-id", headers.get("sb-event-id"), None)]
    for name in sorted(set(want) | set(rec)):
        checks.append(("field " + name, rec.get(name, "<absent>"),
                       want.get(name, "<absent>")))
    for what, got, exp in checks:
        if not same(got, exp):
            bad("%s (%s, id %s): %s is %r, want %r" % (where, typ, eid, what, got, exp))

for eid, ce in events.items():
    if seen.get(eid, 0) != 1:
        bad("%s (%s): read %d times, want once" % (eid, ce["type"], seen.get(eid, 0)))
if problems:
    print("\n".join(problems[:40]), file=sys.stderr)
    sys.exit("%d problems" % len(problems))
print("decoded %d records of %d types with python-avro %s" %
      (sum(seen.values()), len(set(e["type"] for e in events.values())),
       getattr(avro, "__version__", "?")))
EOF
  fail "python-avro check failed"

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "avro_interop: all checks passed"
