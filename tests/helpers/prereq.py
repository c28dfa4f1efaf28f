"""Missing prerequisites skip a test on a developer's machine but fail it in CI (CI=true).

A skip names what is missing and how to install it: the packages come from
deps/host-packages.txt, the one list `make test` installs from."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.hostdeps import install_hint


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    """This process runs as root (namespaces, chown, mounts); nothing else is checked.
    The namespace harness's own prerequisites are tests.harness.hosts.require_harness."""
    require(os.geteuid() == 0, "needs root (namespaces): run make test as root")


def require_commands(*names: str) -> None:
    missing = [n for n in names if not shutil.which(n)]
    require(not missing, f"commands not installed: {', '.join(missing)}; {install_hint(missing)}")
