"""Pacemaker's state directories on a volume (statedirs.py): recreated when an empty volume
hides them, given back to hacluster when an image with other ids wrote them, and a clear
exit-2 error when they cannot be written."""

from __future__ import annotations

import os

import pytest

from pcmk_launch import statedirs
from pcmk_launch.errors import SetupError
from tests.helpers.prereq import require_root

# ---- pacemaker state volumes from an image whose hacluster had other ids ---------------

HA = (100, 101)  # this image's hacluster uid, haclient gid


@pytest.mark.parametrize(
    ("uid", "gid", "expect"),
    [
        (100, 101, None),  # already ours
        (0, 0, None),  # root's stays root's
        (0, 101, None),
        (105, 107, (100, 101)),  # the previous image's hacluster:haclient
        (105, 0, (100, 0)),
        (0, 107, (0, 101)),
    ],
)
def test_foreign_ids_keep_root_and_ours_and_adopt_the_rest(uid, gid, expect):
    assert statedirs.foreign_ids(uid, gid, HA) == expect


def test_state_dirs_written_under_other_ids_are_given_to_hacluster(tmp_path, capsys):
    require_root()  # chown
    cib = tmp_path / "cib"
    (cib / "sub").mkdir(parents=True)
    for path in (cib, cib / "sub", cib / "cib.xml", cib / "sub" / "x"):
        if not path.exists():
            path.write_text("x")
        os.chown(path, 105, 107)
    root_owned = cib / "root.txt"
    root_owned.write_text("x")
    os.chown(root_owned, 0, 0)
    missing = tmp_path / "pengine"

    statedirs.ensure_state_dirs(((str(cib), 0o750), (str(missing), 0o750)), ids=HA)

    owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in [cib, *cib.rglob("*")]}
    assert owners == {"cib": HA, "sub": HA, "cib.xml": HA, "x": HA, "root.txt": (0, 0)}
    assert (missing.stat().st_uid, missing.stat().st_gid) == HA
    err = capsys.readouterr()
    assert "gave 4 entries to hacluster:haclient (100:101)" in err.out + err.err
    statedirs.ensure_state_dirs(((str(cib), 0o750),), ids=HA)  # a second start has nothing to do
    assert "gave" not in "".join(capsys.readouterr())


def test_a_state_dir_that_cannot_be_made_is_an_exit_2_error(tmp_path):
    require_root()  # ensure_state_dirs does nothing for other users
    (tmp_path / "volume").write_text("a file where a directory should be\n")
    target = tmp_path / "volume" / "cib"
    with pytest.raises(SetupError) as caught:
        statedirs.ensure_state_dirs(((str(target), 0o750),), ids=HA)
    assert caught.value.exit_code == 2
    message = caught.value.message()
    assert message.startswith("cannot prepare this node (nothing was started):")
    assert str(target) in message and "Fix: mount a volume on" in message
