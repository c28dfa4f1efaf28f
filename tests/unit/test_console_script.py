"""The `pcmk-launch` script pip installs (setup.cfg's console_scripts): it is the launcher,
as `python -m pcmk_launch` is. Running the cluster through it is tested with fake daemons in
tests/supervisor/test_lifecycle.py; here the commands that need no daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pcmk_launch import __version__
from tests.helpers.launcher import ROOT, console_script


def run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PCMK_")}
    return subprocess.run(
        [str(script), *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_script_renders_hands_off_commands_and_prints_its_version(tmp_path):
    script = console_script(tmp_path)
    assert run(script, "--version").stdout == f"pcmk-launch {__version__}\n"
    conf = tmp_path / "corosync.conf"
    out = run(script, "render", f"--corosync-conf={conf}", PCMK_CLUSTER_PROPERTIES="")
    assert out.returncode == 0, out.stderr
    assert conf.read_text().startswith("# corosync.conf written by pcmk_launch")
    # any other first word is run instead of the cluster, as the image's entrypoint does
    out = run(script, sys.executable, "-c", "import sys; print('ran'); sys.exit(7)")
    assert (out.returncode, out.stdout, out.stderr) == (7, "ran\n", "")
    assert run(script, "render", "--corosync-conf=/nonexistent/c.conf").returncode == 2
