"""Pacemaker's state directories on a volume: recreate the ones an empty volume hides, and give
back to this image's hacluster what an image whose hacluster had other ids wrote there."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil

from .errors import SetupError
from .launchlog import LOG

# Directories the packages create; an empty volume mounted over them must get them back.
STATE_DIRS = (
    ("/var/lib/pacemaker/cib", 0o750),
    ("/var/lib/pacemaker/pengine", 0o750),
    ("/var/lib/pacemaker/blackbox", 0o750),
    ("/var/lib/pacemaker/cores", 0o750),
    ("/var/log/pacemaker", 0o770),
)


def hacluster_ids() -> tuple[int, int] | None:
    """This image's hacluster uid and haclient gid; None where there are none (tests)."""
    try:
        return pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
    except KeyError:
        return None


def ensure_state_dirs(
    state_dirs: tuple[tuple[str, int], ...] = STATE_DIRS, ids: tuple[int, int] | None = None
) -> None:
    """Recreate missing package directories (an empty volume hides the image's ones), and
    give back to hacluster what a volume's previous image wrote as its own hacluster."""
    ids = ids or hacluster_ids()
    if ids is None or os.geteuid() != 0:
        return
    for path, mode in state_dirs:
        try:
            if not os.path.isdir(path):
                os.makedirs(path, mode=mode, exist_ok=True)
                os.chown(path, *ids)
                continue
            moved = readopt(path, ids)
        except OSError as exc:
            raise SetupError(
                f"{exc.filename or path}: cannot create it or give it to hacluster:haclient "
                f"({ids[0]}:{ids[1]}): {exc.strerror}. Fix: mount a volume on {path} that "
                "root in the container can write (not read-only), or none."
            ) from None
        if moved:
            LOG.notice(
                f"{path}: gave {moved} entries to hacluster:haclient ({ids[0]}:{ids[1]}); "
                "the volume was written by an image whose hacluster had other ids"
            )


def foreign_ids(st_uid: int, st_gid: int, ids: tuple[int, int]) -> tuple[int, int] | None:
    """The owner an entry of a pacemaker state directory should have, if it is not its own:
    anything not root's and not this image's hacluster/haclient was the previous image's."""
    uid = ids[0] if st_uid not in (0, ids[0]) else st_uid
    gid = ids[1] if st_gid not in (0, ids[1]) else st_gid
    return (uid, gid) if (uid, gid) != (st_uid, st_gid) else None


def readopt(top: str, ids: tuple[int, int]) -> int:
    """chown top and every entry under it that foreign_ids() says is stale; how many."""
    paths = [top]
    for directory, dirs, files in os.walk(top):
        paths += [os.path.join(directory, name) for name in dirs + files]
    moved = 0
    for path in paths:
        st = os.lstat(path)
        owner = foreign_ids(st.st_uid, st.st_gid, ids)
        if owner is not None:
            os.lchown(path, *owner)
            moved += 1
    return moved


# Emptied at boot on a host (tmpfs /run); a restarted container keeps its /run unless it is a
# tmpfs, and a resource agent's state file left there (ocf:pacemaker:Dummy's, and any agent's
# that keeps state in HA_RSCTMP) makes its probe report the resource running on a node that
# was killed or fenced: Pacemaker then finds it "active on 2 nodes".
BOOT_CLEARED = ("/run/resource-agents",)


def clear_boot_dirs(dirs: tuple[str, ...] = BOOT_CLEARED) -> int:
    """Empty what a host's boot empties, before any daemon starts; how many entries went."""
    removed = 0
    for top in dirs:
        try:
            entries = os.listdir(top)
        except FileNotFoundError:
            continue
        for name in entries:
            path = os.path.join(top, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            removed += 1
    if removed:
        LOG.notice(
            f"{', '.join(dirs)}: removed {removed} entries a previous run of this container "
            "left (resource agents' state, which a host's boot clears)"
        )
    return removed
