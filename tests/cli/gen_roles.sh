#!/usr/bin/env bash
# Writes role.granted / role.revoked CloudEvents NDJSON for the rbac tests,
# on stdout, with the options of gen_events.sh (-k: users per tenant,
# default 30). Event i: tenant i mod T, user u<(i/T) mod K>, role
# (admin, manager, supervisor, agent)[(7i/T) mod 4], revoked when
# (13i + 5) mod 3 = 0, else granted. Event i is the same whatever COUNT is.
#   gen_roles.sh ... -x   instead of events, the state they leave: lines
#                         "tenant user role active(t|f)" sorted, then
#                         "#tenant grants revocations" per tenant
set -euo pipefail
n=1000 prefix=AAAA tenants=acme,globex,initech start=1768003200 step=3600
users=30 first=0 expect=0
while getopts n:p:t:s:d:k:o:x opt; do
  case $opt in
  n) n=$OPTARG ;; p) prefix=$OPTARG ;; t) tenants=$OPTARG ;;
  s) start=$OPTARG ;; d) step=$OPTARG ;; k) users=$OPTARG ;;
  o) first=$OPTARG ;; x) expect=1 ;;
  *) echo "usage: gen_roles.sh [-n N] [-p PREFIX] [-t T,T] [-s START] [-d STEP] [-k K] [-o FIRST] [-x]" >&2
     exit 2 ;;
  esac
done
awk -v n="$n" -v prefix="$prefix" -v tenants="$tenants" -v start="$start" \
  -v step="$step" -v users="$users" -v first="$first" -v expect="$expect" '
BEGIN {
  nt = split(tenants, T, ",")
  split("admin manager supervisor agent", R, " ")
  for (i = first; i < first + n; i++) {
    t = T[i % nt + 1]
    u = "u" int(i / nt) % users
    r = R[int(7 * i / nt) % 4 + 1]
    grant = (13 * i + 5) % 3 != 0
    if (expect) {
      state[t " " u " " r] = grant ? "t" : "f"
      if (grant) g[t]++; else v[t]++
      seen[t] = 1
      continue
    }
    s = start + i * step
    printf "{\"specversion\":\"1.0\",\"id\":\"01%s%020d\",\"type\":\"role.%s\",", prefix, i, grant ? "granted" : "revoked"
    printf "\"source\":\"/test/roles\",\"subject\":\"%s\",\"tenantid\":\"%s\",", u, t
    printf "\"time\":\"%s.%06dZ\",\"data\":{\"role\":\"%s\"}}\n", strftime("%Y-%m-%dT%H:%M:%S", s, 1), (i * 7919) % 1000000, r
  }
  if (expect) {
    for (k in state) print k, state[k] | "LC_ALL=C sort"
    close("LC_ALL=C sort")
    for (t in seen) print "#" t, g[t] + 0, v[t] + 0 | "LC_ALL=C sort"
  }
}'
