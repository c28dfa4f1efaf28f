"""Shared fixtures of the image level: a Docker engine, the image built from this tree, and
cleanup of everything a test creates (containers, networks, volumes named pdtest-<token>-*).

BASE_IMAGE=debian:<suite>-slim selects the Debian base (default the Dockerfile's) and IMAGE=tag
the image (default pacemaker_docker:latest, or pacemaker_docker:<suite> for another base). It is
built once per session with `make image` (cached layers: seconds when nothing changed); tests
of the cloud variant (CLOUD_IMAGE, default pacemaker_docker:cloud or :<suite>-cloud) build it
with `make image CLOUD=1`.
PDTEST_NO_BUILD=1 uses the tag as it is, without building.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.image.dockerutil import (
    BASE_IMAGE,
    CLOUD_IMAGE,
    IMAGE,
    MEASUREMENTS,
    PREFIX,
    Resources,
    crm_mon,
    dexec,
    docker,
    make_image,
)
from tests.prereq import require


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(node) -> bool:
    return any(
        getattr(getattr(node, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def engine() -> None:
    require(shutil.which("docker") is not None, "docker CLI not installed")
    require(docker("info", timeout=60).returncode == 0, "no Docker engine (image/engine.sh)")


@pytest.fixture(scope="session")
def built_image(engine) -> str:
    """The image built from the current tree (`make image`), by tag."""
    if os.environ.get("PDTEST_NO_BUILD") != "1":
        require(shutil.which("make") is not None, "make not installed")
        summary = make_image(IMAGE, BASE_IMAGE)
        if summary:
            MEASUREMENTS["make image (cached)"] = summary
    inspect = docker("image", "inspect", "-f", "{{.Id}} {{.Size}}", IMAGE)
    require(inspect.returncode == 0, f"image {IMAGE} not built (make image)")
    image_id, size = inspect.stdout.split()
    MEASUREMENTS["image size"] = f"{int(size) / 1e6:.0f} MB ({image_id[7:19]})"
    return IMAGE


@pytest.fixture(scope="session")
def cloud_image(built_image) -> str:
    """The cloud variant (`make image CLOUD=1`: built_image plus one layer with boto3 and, on
    Debian 13, fence_aws), by tag."""
    if os.environ.get("PDTEST_NO_BUILD") != "1":
        summary = make_image(CLOUD_IMAGE, BASE_IMAGE, cloud=True)
        if summary:
            MEASUREMENTS["make image CLOUD=1 (cached)"] = summary
    inspect = docker("image", "inspect", "-f", "{{.Size}}", CLOUD_IMAGE)
    require(inspect.returncode == 0, f"image {CLOUD_IMAGE} not built (make image CLOUD=1)")
    MEASUREMENTS["cloud image size"] = f"{int(inspect.stdout) / 1e6:.0f} MB"
    return CLOUD_IMAGE


def _finish(request, resources: Resources, node) -> None:
    if _failed(node):
        resources.dump_logs()
    problems = resources.cleanup()
    if problems:
        pytest.fail("cleanup incomplete:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def resources(request):
    """Per-test registry of what the test creates; all of it is removed afterwards."""
    res = Resources()
    yield res
    _finish(request, res, request.node)


@pytest.fixture(scope="module")
def module_resources(request):
    """The same for module-scoped fixtures; logs are dumped if any test of the module failed."""
    res = Resources()
    yield res
    failed = any(_failed(item) for item in request.session.items if item.module is request.module)
    if failed:
        res.dump_logs()
    problems = res.cleanup()
    if problems:
        pytest.fail("cleanup incomplete:\n" + "\n".join(problems), pytrace=False)


def _leftovers() -> dict[str, list[str]]:
    if shutil.which("docker") is None or docker("info", timeout=30).returncode != 0:
        return {}
    containers = set(docker("ps", "-aq", "--filter", f"name={PREFIX}").stdout.split())
    containers |= set(
        docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={PREFIX}-compose"
        ).stdout.split()
    )
    networks = docker("network", "ls", "-q", "--filter", f"name={PREFIX}").stdout.split()
    volumes = docker("volume", "ls", "-q", "--filter", f"name={PREFIX}").stdout.split()
    return {"containers": sorted(containers), "networks": networks, "volumes": volumes}


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Safety net: after the session nothing named after this session's token may remain."""
    yield
    left = _leftovers()
    if any(left.values()):
        for cid in left.get("containers", []):
            docker("rm", "-f", "-v", cid, timeout=180)
        for net in left.get("networks", []):
            docker("network", "rm", net)
        for vol in left.get("volumes", []):
            docker("volume", "rm", "-f", vol)
        pytest.fail(f"tests left these behind (now removed): {left}", pytrace=False)


USER_DEMO = os.environ.get("DEMO_PROJECT", "pcmk_demo")


def demo_snapshot() -> dict:
    """What a user's `make demo` looks like: its containers (id, state, start time) and, if it
    runs, the cluster as its first node sees it (nodes online, quorum, stonith-enabled)."""
    ids = docker(
        "ps", "-aq", "--filter", f"label=com.docker.compose.project={USER_DEMO}"
    ).stdout.split()
    containers = {}
    for cid in ids:
        fmt = "{{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}"
        name, *state = docker("inspect", "-f", fmt, cid).stdout.split()
        containers[name.lstrip("/")] = (cid, *state)
    cluster = None
    running = sorted(n for n, (_, status, *_) in containers.items() if status == "running")
    if running:
        mon = crm_mon(running[0])
        stonith = dexec(
            running[0], "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
            "--query", "--quiet",
        ).stdout.strip()  # fmt: skip
        cluster = mon and (tuple(mon.online), mon.quorate, mon.dc is not None, stonith)
    return {"containers": containers, "cluster": cluster}


@pytest.fixture(scope="session", autouse=True)
def users_demo_untouched():
    """The tests run beside a user's `make demo` and must leave it exactly as it was."""
    if shutil.which("docker") is None or docker("info", timeout=30).returncode != 0:
        yield
        return
    before = demo_snapshot()
    yield
    after = demo_snapshot()
    if after != before:
        pytest.fail(f"the {USER_DEMO} demo changed: {before} -> {after}", pytrace=False)


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("image-level measurements")
        for key, value in MEASUREMENTS.items():
            terminalreporter.write_line(f"{key}: {value}")
