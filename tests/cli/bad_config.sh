#!/usr/bin/env bash
# Bad configuration gives one line on stderr naming the problem, and a
# non-zero exit, before anything is started.
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$work"' EXIT
dd=$work/data

printf 'partitions = 3\npartitons = 4\n' >"$work/typo.conf"
expect_error 2 "line 2: unknown configuration key 'partitons' (did you mean 'partitions'?)" \
  "$SB" up --data-dir "$dd" --config "$work/typo.conf"
printf 'log.level = chatty\n' >"$work/enum.conf"
expect_error 2 "'chatty' is not one of debug,info,warn,error" \
  "$SB" up --data-dir "$dd" --config "$work/enum.conf"
expect_error 1 "cannot open $work/missing.conf" \
  "$SB" up --data-dir "$dd" --config "$work/missing.conf"
expect_error 2 "'lots' is not a whole number" "$SB" up --data-dir "$dd" --partitions lots
expect_error 2 "environment variable SWITCHBOARD_PARTITIONS: configuration key 'partitions': 0 is out of range" \
  env SWITCHBOARD_PARTITIONS=0 "$SB" up --data-dir "$dd"
expect_error 2 "unknown option '--bogus'" "$SB" up --bogus
expect_error 2 "option '--brokers' needs a value" "$SB" up --brokers
expect_error 2 "No such configuration property" \
  "$SB" up --data-dir "$dd" --set kafka.no.such.property=1
expect_error 2 "unknown command 'upp'; did you mean 'up'?" "$SB" upp
# the dispatcher's and the webhooks' public URL are one key now
printf 'dispatch.public_url = https://sb.example.com\n' >"$work/merged.conf"
expect_error 2 "line 1: configuration key 'dispatch.public_url' was merged into 'webhooks.public_url' (one URL: where providers call back, and what Twilio signs): set webhooks.public_url (environment variable SWITCHBOARD_WEBHOOKS_PUBLIC_URL) instead" \
  "$SB" up --data-dir "$dd" --config "$work/merged.conf"
expect_error 2 "environment variable SWITCHBOARD_DISPATCH_PUBLIC_URL: configuration key 'dispatch.public_url' was merged into 'webhooks.public_url'" \
  env SWITCHBOARD_DISPATCH_PUBLIC_URL=https://sb.example.com "$SB" dispatch --data-dir "$dd"
expect_error 2 "configuration key 'dispatch.public_url' was merged" \
  "$SB" up --data-dir "$dd" --set dispatch.public_url=https://sb.example.com
for bad in sb.example.com https://sb.example.com/ https://sb.example.com/hooks \
  'https://sb.example.com?x=1' ftp://sb.example.com 'https://user@sb.example.com' https://; do
  expect_error 2 "webhooks.public_url must be scheme://host[:port] (http or https, no path, no trailing '/')" \
    "$SB" up --data-dir "$dd" --set "webhooks.public_url=$bad"
done
expect_error 1 "brokers '127.0.0.1:1' did not answer within 1000 ms" \
  "$SB" up --data-dir "$dd" --brokers 127.0.0.1:1 --kafka-timeout-ms 1000
expect_error 1 "no initdb, pg_ctl and postgres in postgres.bindir '/nonexistent'" \
  "$SB" up --data-dir "$dd" --postgres-bindir /nonexistent
expect_error 1 "cannot connect to postgresql://nobody:****@127.0.0.1:1/x" \
  "$SB" up --data-dir "$dd" --database-url postgresql://nobody:pw@127.0.0.1:1/x
grep -q ':pw@' "$work/expect.err" && fail "password printed"
expect_error 2 "no database: pass --database-url, or start 'switchboard up'" \
  "$SB" migrate --data-dir "$dd"
expect_error 2 "processor audit can only be rebuilt from the start of the log" \
  "$SB" replay --processor audit --from 2026-01-01T00:00:00Z --data-dir "$dd"
expect_error 2 "unknown processor 'nope'" "$SB" run --processors nope --data-dir "$dd"
if [ "$(id -u)" -eq 0 ]; then
  expect_error 2 "user 'no-such-user-sb' does not exist" \
    "$SB" up --data-dir "$dd" --postgres-os-user no-such-user-sb
fi
# nothing was left running or half-made
[ ! -e "$dd/runtime.conf" ] || fail "runtime.conf left behind"
[ ! -e "$dd/postgres/PG_VERSION" ] || fail "a cluster was created"
echo "bad_config: all checks passed"
