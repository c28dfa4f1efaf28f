"""Fixtures of the supervisor level: a Launcher (tests/helpers/launcher.py) as PID 1 of a new
pid namespace or as a subreaper, cleaned up after the test."""

from __future__ import annotations

import pytest

from tests.helpers.launcher import Launcher
from tests.helpers.prereq import require_commands, require_root


@pytest.fixture(params=["pid1", "subreaper"])
def launcher(request, tmp_path):
    if request.param == "pid1":
        require_root()
        require_commands("unshare")
    lau = Launcher(tmp_path, request.param)
    yield lau
    lau.cleanup()


@pytest.fixture
def pid1(tmp_path):
    require_root()
    require_commands("unshare")
    lau = Launcher(tmp_path, "pid1")
    yield lau
    lau.cleanup()
