"""Fixtures every level may use (one copy each)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def short_tmp():
    """A short directory: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pdtest-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
