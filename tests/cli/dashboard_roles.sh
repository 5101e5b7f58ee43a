#!/usr/bin/env bash
# What each role's browser receives, in Debian's chromium, headless
# (tests/dashboard/roles.mjs says what it tries): two tenants seeded, an
# agent, a supervisor, a manager and an admin of acme and an admin of globex
# each visiting every view it has; no other agent's id, no other tenant's
# data, views a role lacks neither listed nor opened, forced reads 403, the
# consent look-up revealed to the admin, the Compliance view live.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dashboard_lib.sh"
# a signed checkpoint every second, for the Compliance view's audit panel
export SWITCHBOARD_AUDIT_CHECKPOINT_INTERVAL_MS=1000
dash_up --partitions 2
dash_tokens agent=agent:agent-amber supervisor=supervisor:sup-1 manager=manager:mia \
  admin=admin:alice gxadmin=admin:gina:globex
dash_run roles.mjs
echo "dashboard roles: passed"
