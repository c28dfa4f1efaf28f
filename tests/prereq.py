"""Moved to tests/helpers/prereq.py. This name stays only for the tests/cluster and tests/image
modules that still import it; new code imports tests.helpers.prereq."""

from tests.helpers.prereq import require, require_commands, require_root

__all__ = ["require", "require_commands", "require_root"]
