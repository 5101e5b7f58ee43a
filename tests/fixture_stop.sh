#!/bin/sh
# Stops the PostgreSQL fixture and removes its data: fixture_stop.sh SWITCHBOARD DIR
"$1" postgres stop --data-dir "$2" --log-level warn && rm -rf "$2"
