#!/usr/bin/env bash
# The Wallboard and My day in Debian's chromium, headless (tests/dashboard/
# ops.mjs says what it tries): 500 agents, live changes timed from the
# POST's 202 to the page, drill-down by keyboard, big numbers, time-in-state
# bands on a fast-forwarded clock, a click answered under ~100 events/s,
# the agent's page holding its own data only, a call from a PBX (the test
# AMI server through the AMI connector) on the wallboard, screenshots.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_ami.sh"
. "$(dirname "$0")/dashboard_lib.sh"
# both libraries' clean-ups: the test AMI server, the scripts' folder
cleanup_extra() {
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
  rm -rf "$dashdir"
  return 0
}
start_pbx Zm9vYmFyLWRhc2gtb3Bz
# a queue call answered by PJSIP/agent1 (tests/ami/map), 30 s ago: the
# test plays it through the server's control port (SB_AMI_CTL)
$PY "$ami_here/ami/shift_flow.py" 30 "$work" "$ami_here/ami/map/queue_answered.ami" ||
  fail "cannot move the flow"
export SB_AMI_CTL=$ctl_port SB_AMI_FLOW=$work/queue_answered.ami
SB_AMI_CALL=$(cat "$work/queue_answered.call")
export SB_AMI_CALL
# (a disposition wait of 1 s: analytics counts the PBX's call, which has
# none, a second after its end)
dash_up --partitions 2 --processors routing,analytics,gamification \
  --set "ami.pbx_file=$work/pbx" --set "ami.secrets_file=$work/secrets" \
  --set analytics.disposition_wait_s=1
dash_tokens admin=admin:alice supervisor=supervisor:sup-1 agent=agent:agent-1
dash_run ops.mjs
echo "dashboard wallboard and my day: passed"
