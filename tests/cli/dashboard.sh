#!/usr/bin/env bash
# The dashboard's shell in Debian's chromium, headless (tests/dashboard/
# core.mjs says what it tries): the page's policy, sign-in per role, the
# freshness indicator across a SIGKILL of up and its restart, sign-out, no
# other origin.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dashboard_lib.sh"
dash_up --partitions 2 --processors routing,analytics,gamification,assignment
dash_tokens agent=agent:agent-1 supervisor=supervisor:sup-1 manager=manager:mia admin=admin:alice
dash_run core.mjs
echo "dashboard shell: passed"
