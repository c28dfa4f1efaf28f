"""Fixtures for multi-host cluster tests (see tests/harness/hosts.py).

``make_cluster(n, **host_kwargs) -> Cluster`` creates ``n`` hosts on one switch;
everything it made is torn down after the test, pass or fail.  On failure the
tails of the hosts' logs are printed and their directories kept (path printed);
set ``PD_KEEP=1`` to keep them always.
"""

from __future__ import annotations

import os

import pytest

from tests.harness import hosts
from tests.harness.cluster import Cluster


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def cluster_prereqs():
    """Skip (or, with CI=true, fail) when root/corosync/pacemaker/iproute2 are missing;
    at session end check that nothing this session created is left."""
    hosts.require_harness()
    stale = hosts.cleanup_stale_sessions()
    if stale:
        print(f"removed namespaces of dead harness sessions: {stale}")
    yield
    hosts.assert_no_leftovers()


@pytest.fixture
def make_cluster(request, cluster_prereqs):
    made: list[Cluster] = []

    def factory(n: int = 3, **host_kwargs) -> Cluster:
        cluster = Cluster(n, **host_kwargs)
        made.append(cluster)
        return cluster

    yield factory

    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        for cluster in made:
            print(cluster.logs(60))
    try:
        hosts.teardown_all(c.network for c in made)
    finally:
        for cluster in made:
            if failed or os.environ.get("PD_KEEP") == "1":
                print(f"kept host dirs: {cluster.base_dir}")
            else:
                cluster.network.remove_dir()
    hosts.assert_no_leftovers()


@pytest.fixture
def timing(capsys):
    """timing(what, seconds) prints a TIMING line that survives pytest's capture."""

    def report(what: str, seconds: float) -> None:
        with capsys.disabled():
            print(f"\nTIMING {what}: {seconds:.1f}s")

    return report
