"""Test harness: simulated hosts (network namespaces + pid/mount/uts namespaces)
for multi-node tests of real corosync + pacemaker.  See hosts.py and cluster.py."""
