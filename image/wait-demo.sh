#!/bin/bash
# wait-demo.sh - wait until the demo cluster (compose.yaml) is formed, then show crm_mon -1.
#
#   image/wait-demo.sh [--nodes N] [--timeout SECONDS] [--container NAME]
#
# "Formed" means: `pcmk-launch status --json` in CONTAINER reports a DC with quorum and N nodes
# online (defaults: 3 nodes, 180 s, container node1). Exit 0 when formed, 1 on timeout or when
# the container stops (its last log lines are shown), 2 on bad usage.
set -euo pipefail

nodes=3 timeout=180 container=node1
while [ $# -gt 0 ]; do
    case $1 in
    -n | --nodes) nodes=$2; shift 2 ;;
    -t | --timeout) timeout=$2; shift 2 ;;
    -c | --container) container=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "wait-demo.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case $nodes$timeout in *[!0-9]*) echo "wait-demo.sh: --nodes/--timeout take numbers" >&2; exit 2 ;; esac

# stdin: `pcmk-launch status --json`; argv[1]: expected nodes. Prints a one-line state; exit 0
# when formed.
read -r -d '' PARSE <<'EOF' || true
import json
import sys

want = int(sys.argv[1])
try:
    data = json.load(sys.stdin)
except ValueError as e:
    print(f"unparsable status output ({e})")
    sys.exit(1)
if not data.get("running"):
    print(data.get("reason", "the cluster is not running yet"))
    sys.exit(1)
nodes = data.get("nodes", [])
online = sorted(n["name"] for n in nodes if n.get("online"))
offline = sorted(n["name"] for n in nodes if not n.get("online"))
state = f"{len(online)}/{want} online [{' '.join(online)}]"
if offline:
    state += f", offline [{' '.join(offline)}]"
state += f", DC {data['dc']}" if data.get("dc") else ", no DC"
state += "" if data.get("quorate") else " (no quorum)"
print(state)
sys.exit(0 if data.get("dc") and data.get("quorate") and len(online) >= want else 1)
EOF

start=$SECONDS last=""
while :; do
    status=$(docker inspect -f '{{.State.Status}}' "$container" 2>/dev/null) || status=missing
    if [ "$status" != running ] && [ "$status" != created ] && [ "$status" != restarting ]; then
        echo "wait-demo.sh: container $container is $status" >&2
        [ "$status" = missing ] || docker logs --tail 30 "$container" >&2 || true
        exit 1
    fi
    # status exits 1 while the cluster is not running here; its JSON still says why.
    json=$(docker exec "$container" pcmk-launch status --json 2>/dev/null) || true
    if [ -n "$json" ]; then
        if state=$(printf '%s' "$json" | python3 -c "$PARSE" "$nodes"); then
            echo "wait-demo.sh: cluster formed after $((SECONDS - start))s: $state"
            break
        fi
    else
        state="pcmk-launch status not answering yet"
    fi
    if [ "$state" != "$last" ]; then
        echo "wait-demo.sh: [$((SECONDS - start))s] $state"
        last=$state
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
        echo "wait-demo.sh: timed out after ${timeout}s; last state: $state" >&2
        docker logs --tail 30 "$container" >&2 || true
        exit 1
    fi
    sleep 2
done
docker exec "$container" crm_mon -1
