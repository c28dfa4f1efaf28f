#!/bin/bash
# demo-fencing.sh - turn STONITH on in the demo cluster (compose.yaml): one fence_docker_api
# device per node, which kills that node's container through the Docker socket, kept off the
# node it fences, then stonith-enabled=true. Run it once the cluster has formed (make demo does).
#
#   image/demo-fencing.sh [--container NAME] [--nodes "node1 node2 node3"] [--action off|reboot]
#
# --container   a running cluster node to configure from (default node1)
# --nodes       the nodes to fence (default: every node crm_node -l lists); each node's container
#               must have the node's name (compose.yaml: container_name = hostname)
# --action      what a fenced node's container gets: off (default: killed, stays down until
#               `docker start NODE`) or reboot (killed, then started again: it rejoins)
#
# Idempotent: devices that exist are left as they are (even if changed by hand), missing ones
# are added, and everything is pushed to the CIB in one change; nothing is pushed when there is
# nothing to do. Exit 0 when fencing is configured, 1 on failure, 2 on bad usage.
# Off again: docker exec node1 pcs property set stonith-enabled=false
set -euo pipefail

container=node1 nodes="" action=off
while [ $# -gt 0 ]; do
    case $1 in
    -c | --container) container=$2; shift 2 ;;
    -n | --nodes) nodes=$2; shift 2 ;;
    -a | --action) action=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo-fencing.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case $action in off | reboot) ;; *) echo "demo-fencing.sh: --action is off or reboot" >&2; exit 2 ;; esac

fail() { echo "demo-fencing.sh: $*" >&2; exit 1; }
in_node() { docker exec "$container" "$@"; }

[ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ] ||
    fail "container $container is not running (make demo first)"
in_node test -x /usr/sbin/fence_docker_api ||
    fail "$container has no /usr/sbin/fence_docker_api: rebuild the image (make image)"
# The engine filter's socket (compose.yaml, profile B) where the node has it, else the raw one.
socket=/run/pcmk-filter/docker.sock
in_node test -S "$socket" || socket=/var/run/docker.sock
if ! out=$(in_node fence_docker_api --socket "$socket" --action monitor 2>&1); then
    fail "the Docker API is not reachable from $container at $socket (compose.yaml gives" \
        "every node the engine filter's socket): $out"
fi
if [ -z "$nodes" ]; then
    nodes=$(in_node crm_node --list | awk '{ print $2 }' | sort | tr '\n' ' ')
    [ -n "${nodes// /}" ] || fail "crm_node --list in $container shows no nodes"
fi
for node in $nodes; do
    case $node in *[!A-Za-z0-9_.-]*) fail "not a node name: $node" ;; esac
    # the plug must name an existing container: a missing one would count as "off"
    state=0
    in_node fence_docker_api --socket "$socket" --action status --plug "$node" \
        --missing-as-off=0 >/dev/null 2>&1 ||
        state=$?
    [ "$state" -ne 1 ] || fail "no container named $node on this Docker host (or the API failed)"
    [ "$state" -le 2 ] || fail "fence_docker_api failed in $container (exit code $state)"
done

# In the node: edit a copy of the CIB with pcs -f, then push only the difference.
# shellcheck disable=SC2016  # expanded by the shell inside the container
script='
set -euo pipefail
action=$1 socket=$2; shift 2
tmp=$(mktemp -d); trap "rm -rf $tmp" EXIT
pcs cluster cib "$tmp/orig.xml"
cp "$tmp/orig.xml" "$tmp/new.xml"
has() { CIB_file="$tmp/new.xml" cibadmin --query --xpath "$1" >/dev/null 2>&1; }
changed=""
for node in "$@"; do
    dev="fence_$node"
    if ! has "//primitive[@id=\"$dev\"]"; then
        pcs -f "$tmp/new.xml" stonith create "$dev" fence_docker_api plug="$node" \
            socket="$socket" pcmk_host_list="$node" pcmk_reboot_action="$action" op monitor interval=60s \
            >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
        changed="$changed $dev"
    fi
    if ! has "//rsc_location[@rsc=\"$dev\" and @node=\"$node\"]"; then
        pcs -f "$tmp/new.xml" constraint location "$dev" avoids "$node" \
            >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
        changed="$changed $dev-avoids-$node"
    fi
done
enabled=$(CIB_file="$tmp/new.xml" crm_attribute --type crm_config --name stonith-enabled \
    --query --quiet 2>/dev/null || true)
if [ "$enabled" != true ]; then
    pcs -f "$tmp/new.xml" property set stonith-enabled=true >/dev/null 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    changed="$changed stonith-enabled=true"
fi
if [ -z "$changed" ]; then
    echo "demo-fencing.sh: fencing already configured, nothing changed"
    exit 0
fi
pcs cluster cib-push "$tmp/new.xml" diff-against="$tmp/orig.xml" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
echo "demo-fencing.sh: added$changed"
'
# shellcheck disable=SC2086  # one word per node
in_node bash -c "$script" demo-fencing "$action" "$socket" $nodes || fail "configuring fencing failed"

# Wait (bounded) until every device has started, then show them.
# stdin: `pcmk-launch status --json`; argv[1]: the nodes, each with a device fence_NODE.
read -r -d '' STARTED <<'EOF' || true
import json
import sys

nodes = sys.argv[1].split()
try:
    data = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
active = {r["id"] for r in data.get("resources", []) if r.get("active")}
sys.exit(0 if all(f"fence_{n}" in active for n in nodes) else 1)
EOF
started=0
for _ in $(seq 60); do
    if in_node pcmk-launch status --json 2>/dev/null | python3 -c "$STARTED" "$nodes"; then
        started=1
        break
    fi
    sleep 1
done
in_node pcs stonith status 2>/dev/null || true
[ "$started" = 1 ] || fail "not every fence device started within 60 s (crm_mon -1 in $container)"
