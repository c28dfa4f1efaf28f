"""The container image: static checks of Dockerfile / compose.yaml / .dockerignore, then checks
of a built image (built once per session by conftest.py; IMAGE=... selects another tag).
The compose demo is tested in test_compose.py, operator scenarios in the other test_*.py.

The static tests need nothing; the others need a Docker engine and the image (skipped on a
developer's machine without them, failed in CI=true).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.image.dockerutil import IMAGE
from tests.prereq import require

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined."""
    out, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # comment inside a continued instruction
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, args = current.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


INSTRUCTIONS = instructions(DOCKERFILE)


def final_stage() -> list[tuple[str, str]]:
    """The default image's instructions: its stage and the stages it is built FROM, in order
    (the last stage adds only the volumes to `stack`, which the bundle stage shares)."""
    starts = [i for i, (k, _) in enumerate(INSTRUCTIONS) if k == "FROM"]
    stages = {}  # name -> (its base, its instructions)
    for begin, end in zip(starts, [*starts[1:], len(INSTRUCTIONS)], strict=True):
        base, _, name = INSTRUCTIONS[begin][1].partition(" AS ")
        stages[name.strip() or f"#{begin}"] = (base.strip(), INSTRUCTIONS[begin:end])
    base, chain = list(stages.values())[-1]
    while base in stages:
        base, earlier = stages[base]
        chain = earlier + chain
    return chain


def only(keyword: str) -> str:
    found = [a for k, a in final_stage() if k == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


# --- static ---------------------------------------------------------------------------------


def test_base_image_default_is_what_base_image_sh_provides():
    keyword, args = INSTRUCTIONS[0]
    # Debian 13 by default; Debian 12 stays buildable with BASE_IMAGE=debian:bookworm-slim
    assert (keyword, args) == ("ARG", "BASE_IMAGE=debian:trixie-slim")
    out = subprocess.run(
        [str(ROOT / "image/base-image.sh"), "--print"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "BASE_IMAGE"},  # the default
    )
    if out.returncode == 0:  # needs apt-get (Debian); the tag part needs nothing else
        assert "image=debian:trixie-slim suite=trixie " in out.stdout


def test_entrypoint_and_healthcheck_are_exec_form_pcmk_launch():
    assert json.loads(only("ENTRYPOINT")) == ["/usr/sbin/pcmk-launch"]
    health = only("HEALTHCHECK")
    cmd = json.loads(health.split(" CMD ", 1)[1])
    assert cmd == ["/usr/sbin/pcmk-launch", "health"]
    assert "--interval=10s" in health and "--start-period=60s" in health
    assert only("STOPSIGNAL") == "SIGTERM"


def test_volumes_are_state_dirs_not_config():
    volumes = json.loads(only("VOLUME"))
    assert volumes == ["/var/lib/pacemaker", "/var/lib/corosync"]
    # the launcher rewrites corosync.conf at every start: a volume would pin a stale copy
    assert "/etc/corosync" not in volumes


def test_oci_labels():
    labels = " ".join(a for k, a in final_stage() if k == "LABEL")
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_copied_sources_exist_and_are_in_the_build_context():
    ignored = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for keyword, args in final_stage():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        source = args.split()[0]
        assert (ROOT / source).exists(), source
        top = source.split("/")[0]
        assert top not in ignored and source.rstrip("/") not in ignored, source
    for needed in (".git", ".venv", "tests", "**/__pycache__"):
        assert needed in ignored


def test_launcher_wrapper_runs_the_package_main():
    wrapper = (ROOT / "image/pcmk-launch").read_text()
    assert wrapper.startswith("#!/usr/bin/python3\n")
    assert 'run_module("pcmk_launch", run_name="__main__"' in wrapper
    assert (ROOT / "pcmk_launch/__main__.py").exists()


def test_compose_addresses_match_node_list_and_subnet():
    # as compose reads it with DEMO_NAME and DEMO_NET unset: ${VAR:-default} -> default
    compose = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", COMPOSE)
    subnet = ipaddress.ip_network(re.search(r"subnet:\s*(\S+)", compose).group(1))
    assert subnet.subnet_of(ipaddress.ip_network("198.18.0.0/15"))
    node_list = re.search(r'PCMK_NODE_LIST:\s*"([^"]*)"', compose).group(1).split()
    addresses = re.findall(r"ipv4_address:\s*(\S+)", compose)
    assert addresses == node_list == ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
    assert all(ipaddress.ip_address(a) in subnet for a in addresses)
    assert re.findall(r"hostname:\s*(\S+)", compose) == ["node1", "node2", "node3"]
    names = re.findall(r"container_name:\s*(\S+)", compose)
    assert names == ["node-engine-filter", "node1", "node2", "node3"]
    assert "stop_grace_period: 2m" in compose and "NET_ADMIN" in compose
    # profile B: only the engine filter holds the raw engine socket
    raw = re.findall(r"^\s*- /var/run/docker.sock:/var/run/docker.sock", compose, re.M)
    assert len(raw) == 1 and "--allow=node1,node2,node3" in compose
    assert not re.search(r"^(version|name):", COMPOSE, re.M)  # docker-compose v1 and v2


@pytest.mark.parametrize("script", ["engine.sh", "base-image.sh", "wait-demo.sh"])
def test_scripts_parse(script):
    path = ROOT / "image" / script
    assert os.access(path, os.X_OK)
    subprocess.run(["bash", "-n", str(path)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(path)], check=True)


def test_hadolint():
    require(shutil.which("hadolint") is not None, "hadolint not installed (make venv)")
    subprocess.run(["hadolint", str(ROOT / "Dockerfile")], check=True)


# --- the built image ------------------------------------------------------------------------


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@pytest.fixture(scope="module")
def image(built_image) -> dict:  # built_image: tests/image/conftest.py (make image)
    inspect = docker("image", "inspect", IMAGE, check=False)
    require(inspect.returncode == 0, f"image {IMAGE} not built (make image)")
    return json.loads(inspect.stdout)[0]["Config"]


def run(*args: str, entrypoint: str | None = None, env: dict[str, str] | None = None):
    opts = ["--rm", "--network", "none"]
    if entrypoint:
        opts += ["--entrypoint", entrypoint]
    for key, value in (env or {}).items():
        opts += ["-e", f"{key}={value}"]
    return docker("run", *opts, IMAGE, *args, check=False)


def test_image_config(image):
    assert image["Entrypoint"] == ["/usr/sbin/pcmk-launch"]
    assert image["StopSignal"] == "SIGTERM"
    assert image["Healthcheck"]["Test"] == ["CMD", "/usr/sbin/pcmk-launch", "health"]
    assert set(image["Volumes"]) == {"/var/lib/pacemaker", "/var/lib/corosync"}
    assert image["Labels"]["org.opencontainers.image.licenses"] == "GPL-2.0-or-later"


def test_image_launcher_version_matches_tree(image):
    from pcmk_launch import __version__

    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"pcmk-launch {__version__}"
    assert image["Labels"]["org.opencontainers.image.version"] == __version__


def test_image_dry_run_renders_a_cluster_config(image):
    # a node list means crypto (PCMK_CRYPTO=on): an authkey is needed, here from a passphrase
    secret = "pdtest-dry-run-passphrase"
    out = run("--dry-run", env={"PCMK_NODE_LIST": "127.0.0.1", "PCMK_AUTHKEY_PASSPHRASE": secret})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ring0_addr: 127.0.0.1" in out.stdout
    assert "crypto_cipher: aes256" in out.stdout and "sha256:" in out.stdout  # a fingerprint
    assert secret not in out.stdout + out.stderr


def test_image_contents(image):
    script = (
        "set -e; for c in corosync pacemakerd crm_mon crm_resource cibadmin pcs ip ps docker; "
        'do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done; '
        "test -x /usr/lib/ocf/resource.d/heartbeat/IPaddr2; "
        "python3 -c 'import jinja2, netifaces, pcmk_launch.cli'; "
        "id hacluster; test -d /var/lib/pacemaker/cib; "
        "! ls /var/lib/apt/lists | grep -q Packages; "  # apt lists cleaned
        # no Pacemaker Remote key baked in (Debian's postinst makes one): it would be shared
        # by everyone who pulls the image
        "test ! -e /etc/pacemaker/authkey; "
        # image/pacemaker-gate stands in for three daemons, diverted the dpkg way
        "for d in $(/usr/libexec/pcmk-launch/pacemaker-gate --gated); do "
        '  test "$(readlink /usr/lib/pacemaker/$d)" = /usr/libexec/pcmk-launch/pacemaker-gate; '
        "  test -x /usr/lib/pacemaker/gated/$d; "
        "  dpkg-divert --truename /usr/lib/pacemaker/$d | grep -qx /usr/lib/pacemaker/gated/$d; "
        "done"
    )
    out = run("-c", script, entrypoint="bash")
    assert out.returncode == 0, out.stdout + out.stderr
