"""booth on the host's kernel (issue 27): booth before 1.2 (Debian 12's 1.0) loops for ever at
start on Linux 6.9 and newer, and a container runs on the host's kernel. A node of an image
whose booth would hang here is refused at start (exit 2, the message names the image to use);
an image whose booth works writes booth.conf and runs. Runs on both bases (image-test and
image-test-bookworm): which branch applies depends on the image and this host's kernel."""

from __future__ import annotations

import os

from pcmk_launch import booth
from tests.image.dockerutil import PASSPHRASE, PREFIX, docker, inspect, logs, wait_for

BOOTH_ENV = {
    "PCMK_BOOTH_SITES": "192.0.2.50 198.51.100.50",
    "PCMK_BOOTH_ARBITRATORS": "203.0.113.5",
    "PCMK_BOOTH_TICKETS": "db",
    "PCMK_BOOTH_AUTHKEY_PASSPHRASE": f"{PASSPHRASE} booth",
}


def test_a_booth_that_would_hang_on_this_kernel_is_refused(built_image, resources):
    version = docker(
        "run", "--rm", "--network", "none", built_image,
        "dpkg-query", "-W", "-f", "${Version}", "booth",
        check=True,
    ).stdout.strip()  # fmt: skip
    kernel = os.uname().release
    name = resources.container(f"{PREFIX}-boothkernel")
    env = [arg for k, v in BOOTH_ENV.items() for arg in ("-e", f"{k}={v}")]
    docker("run", "-d", "--name", name, "--network", "none", *env, built_image, check=True)
    if booth.hangs_on(version, kernel):
        wait_for(lambda: (inspect(name, "{{.State.Status}}") == "exited", None), 60, "refusal")
        assert inspect(name, "{{.State.ExitCode}}") == "2", logs(name)
        text = logs(name)
        assert f"booth {version} loops for ever at start on this host's kernel" in text, text
        assert "Fix: run the Debian 13 image" in text
    else:
        wait_for(
            lambda: ((out := docker("exec", name, "cat", booth.CONF)).returncode == 0, out),
            60,
            "booth.conf written",
            container=name,
        )
        assert 'ticket = "db"' in docker("exec", name, "cat", booth.CONF, check=True).stdout
        assert docker("stop", "-t", "60", name, timeout=120).returncode == 0
        assert inspect(name, "{{.State.ExitCode}}") == "0", logs(name, 40)
