#!/usr/bin/env bash
# The Wallboard and My day in Debian's chromium, headless (tests/dashboard/
# ops.mjs says what it tries): 500 agents, live changes timed from the
# POST's 202 to the page, drill-down by keyboard, big numbers, time-in-state
# bands on a fast-forwarded clock, a click answered under ~100 events/s,
# the agent's page holding its own data only, screenshots.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dashboard_lib.sh"
dash_up --partitions 2 --processors routing,analytics,gamification
dash_tokens admin=admin:alice supervisor=supervisor:sup-1 agent=agent:agent-1
dash_run ops.mjs
echo "dashboard wallboard and my day: passed"
