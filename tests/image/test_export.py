"""`make export` writes pcmk_container_<id>.tar, which a clean Docker engine loads and runs.

The clean engine is a throwaway dockerd of this test: its own --data-root, --exec-root (and so
its own containerd), pidfile and unix socket, no bridge, no iptables, no daemon.json of the
host. Only that dockerd (by pid) is stopped; its directory is deleted afterwards.

It runs in its own network and mount namespaces (`unshare --net --mount`): with --bridge=none
dockerd *deletes* the link named docker0 in its network namespace at start-up (libnetwork's
removeDefaultBridgeInterface), which in the host's namespace is the main engine's default
bridge (builds and default-network containers then fail with "could not find bridge docker0").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.image.dockerutil import IMAGE, ROOT, docker, measure, wait_for
from tests.image.engines import stop_dockerd, unmount_below
from tests.prereq import require


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


@pytest.fixture
def clean_engine(engine):
    require(shutil.which("dockerd") is not None, "dockerd not installed")
    require(shutil.which("unshare") is not None, "unshare (util-linux) not installed")
    require(os.geteuid() == 0, "starting a dockerd needs root")
    base = Path(tempfile.mkdtemp(prefix="pdtest-dockerd-"))
    (base / "daemon.json").write_text("{}\n")
    sock = f"unix://{base}/docker.sock"
    log = os.open(base / "dockerd.log", os.O_WRONLY | os.O_CREAT, 0o600)
    proc = subprocess.Popen(
        [
            "unshare",  # execs dockerd: proc.pid is dockerd's
            "--net",
            "--mount",
            "--propagation=private",
            "dockerd",
            f"--config-file={base}/daemon.json",
            f"--data-root={base}/data",
            f"--exec-root={base}/exec",
            f"--pidfile={base}/dockerd.pid",
            f"-H={sock}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    os.close(log)  # the child has it
    bridge_before = _link_exists("docker0")
    try:
        wait_for(
            lambda: (
                docker("info", host=sock, timeout=10).returncode == 0 or proc.poll() is not None,
                proc.poll(),
            ),
            60,
            "throwaway dockerd answers",
            interval=0.3,
        )
        assert proc.poll() is None, (base / "dockerd.log").read_text()[-3000:]
        yield sock
    finally:
        stop_dockerd(proc, base)
        unmount_below(base)
        shutil.rmtree(base, ignore_errors=True)
        assert not base.exists(), f"could not delete {base}"
        assert _link_exists("docker0") == bridge_before, "the main engine's docker0 changed"


def test_make_export_loads_into_a_clean_engine(built_image, clean_engine):
    image_id = docker("image", "inspect", "-f", "{{.Id}}", built_image, check=True).stdout.strip()
    out_dir = Path(tempfile.mkdtemp(prefix="pdtest-export-"))
    try:
        t0 = time.monotonic()
        out = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "export", f"IMAGE={IMAGE}", f"EXPORT_DIR={out_dir}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        tars = list(out_dir.glob("pcmk_container_*.tar"))
        assert len(tars) == 1, (tars, out.stdout)
        tar = tars[0]
        short = re.fullmatch(r"pcmk_container_([0-9a-f]{12})\.tar", tar.name).group(1)
        # the tree may have been rebuilt by `make export` itself; the name is what was saved
        exported_id = docker("image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()
        assert short in (exported_id[7:19], image_id[7:19]), (short, exported_id, image_id)
        size = tar.stat().st_size
        assert oct(tar.stat().st_mode & 0o777) == "0o644"
        measure("make export", f"{time.monotonic() - t0:.1f}s, tar {size / 1e6:.0f} MB")

        assert docker("images", "-q", host=clean_engine).stdout.strip() == "", "engine not clean"
        t0 = time.monotonic()
        with open(tar, "rb") as stream:
            load = subprocess.run(
                ["docker", "-H", clean_engine, "load"],
                stdin=stream,
                capture_output=True,
                text=True,
                timeout=300,
            )
        assert load.returncode == 0, load.stdout + load.stderr
        assert f"Loaded image: {IMAGE}" in load.stdout, load.stdout
        measure("docker load into a clean engine", f"{time.monotonic() - t0:.1f}s")

        inspected = docker("image", "inspect", IMAGE, host=clean_engine, check=True)
        config = json.loads(inspected.stdout)[0]
        assert config["Id"][7:19] == short
        assert config["Config"]["Entrypoint"] == ["/usr/sbin/pcmk-launch"]
        assert config["Config"]["Healthcheck"]["Test"] == ["CMD", "/usr/sbin/pcmk-launch", "health"]
        version = docker(
            "run", "--rm", "--pull=never", "--network", "none", IMAGE, "--version",
            host=clean_engine, timeout=60,
        )  # fmt: skip
        assert version.returncode == 0 and version.stdout.startswith("pcmk-launch "), (
            version.stdout + version.stderr
        )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
