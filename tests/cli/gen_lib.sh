# What the event generators (gen_events.sh, gen_consent.sh,
# gen_campaigns.sh, gen_agents_leads.sh) share. A generator sets its
# defaults (n, prefix, tenants, start, step; subjects and first are 40 and
# 0 unless it sets them), sources this file, then:
#   gen_options "$@"   -n COUNT -p PREFIX -t TENANTS -s START -d STEP
#                      -k SUBJECTS -o FIRST into those variables; the prefix
#                      checked (4 Crockford base32 characters); a bad option
#                      prints the usage and exits 2
#   gen_awk 'PROGRAM'  runs awk with n, prefix, tenants, start, step, k
#                      (the subjects) and first as variables, and with
#                      civil(days) ("YYYY-MM-DD" of days since 1970) and
#                      rfc3339(us) (a UTC time with microseconds) defined
subjects=${subjects:-40} first=${first:-0}
gen_options() {
  local opt me
  me=$(basename "$0")
  OPTIND=1
  while getopts n:p:t:s:d:k:o: opt; do
    case $opt in
    n) n=$OPTARG ;; p) prefix=$OPTARG ;; t) tenants=$OPTARG ;;
    s) start=$OPTARG ;; d) step=$OPTARG ;; k) subjects=$OPTARG ;;
    o) first=$OPTARG ;;
    *) echo "usage: $me [-n N] [-p PREFIX] [-t T,T] [-s START] [-d STEP] [-k K] [-o FIRST]" >&2
       exit 2 ;;
    esac
  done
  [[ $prefix =~ ^[0-9A-HJKMNP-TV-Z]{4}$ ]] || { echo "$me: bad prefix '$prefix'" >&2; exit 2; }
}
gen_awk() {
  awk -v n="$n" -v prefix="$prefix" -v tenants="$tenants" -v start="$start" \
    -v step="$step" -v k="$subjects" -v first="$first" '
function civil(days,   z, era, doe, yoe, y, doy, mp, d, m) {
  z = days + 719468
  era = int(z / 146097)
  doe = z - era * 146097
  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
  y = yoe + era * 400
  doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
  mp = int((5 * doy + 2) / 153)
  d = doy - int((153 * mp + 2) / 5) + 1
  m = mp < 10 ? mp + 3 : mp - 9
  if (m <= 2) y++
  return sprintf("%04d-%02d-%02d", y, m, d)
}
function rfc3339(us,   s, frac, days, rem) {
  s = int(us / 1000000); frac = us - s * 1000000
  days = int(s / 86400); rem = s - days * 86400
  return sprintf("%sT%02d:%02d:%02d.%06dZ", civil(days), int(rem / 3600),
                 int((rem % 3600) / 60), rem % 60, frac)
}
'"$1"
}
