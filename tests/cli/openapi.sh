#!/usr/bin/env bash
# The OpenAPI document (connectors/api/openapi.json, what GET
# /v1/openapi.json serves) validates with a standard validator: the npm
# package @seriousme/openapi-schema-validator, pinned in tests/npm, which
# checks against the OpenAPI Initiative's JSON Schema for 3.1. The same
# validator must refuse broken copies of it (so a pass means something).
# That every route is documented is the unit test api_routes_documented.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
doc=$root/connectors/api/openapi.json
npmdir=$("$root/tests/npm/install.sh" "${SB_NPM_DIR:-$work/npm}") ||
  fail "cannot install the pinned npm packages (tests/npm)"

# broken copies: a parameter without "in", an operation whose responses is
# not an object, a document without info.title, a path not starting "/"
/usr/bin/python3 - "$doc" "$work" <<'PY' || fail "cannot write the broken copies"
import json, sys
doc, work = sys.argv[1], sys.argv[2]
def broken(n, f):
    d = json.load(open(doc))
    f(d)
    json.dump(d, open("%s/broken%d.json" % (work, n), "w"))
broken(1, lambda d: d["paths"]["/v1/projection"]["get"]["parameters"][0].pop("in"))
broken(2, lambda d: d["paths"]["/v1/health"]["get"].__setitem__("responses", "none"))
broken(3, lambda d: d["info"].pop("title"))
broken(4, lambda d: d["paths"].__setitem__("v1/nothing", {"get": {"responses": {}}}))
PY
# one run of the validator for all (node and the schemas load once)
node "$npmdir/validate.mjs" "$doc" "$work"/broken{1,2,3,4}.json \
  >"$work/valid.out" 2>"$work/valid.err" || true
grep -qx "$doc: valid OpenAPI 3.1" "$work/valid.out" ||
  fail "connectors/api/openapi.json does not validate: $(grep -F "$doc" "$work/valid.err" | head -c 2000)"
for n in 1 2 3 4; do
  grep -qx "$work/broken$n.json: invalid" "$work/valid.out" ||
    fail "the validator passed broken copy $n: $(cat "$work/valid.out")"
done
echo "openapi: valid, and 4 broken copies refused"
