"""Bundles started through the engine from this node (issue 26): whether the engine's host has
this node's Pacemaker Remote key where Pacemaker maps it from.

For every bundle replica Pacemaker passes `-v /etc/pacemaker/authkey:/etc/pacemaker/authkey`
to the engine. The source is a path on the engine's host, not in this container: the replica
gets the host's file (or, where the host has none, an empty directory the engine creates
there), never the key the launcher installed in this container. Judged from
/proc/self/mountinfo: the key is on the host only if /etc/pacemaker (or the key file) is a
mount of the host's own /etc/pacemaker.
"""

from __future__ import annotations

from .hostcheck import Finding

BUNDLE_KEY = "/etc/pacemaker/authkey"  # Pacemaker's DEFAULT_REMOTE_KEY_LOCATION, always mapped
KEY_DIR = "/etc/pacemaker"
FIX = (
    "-v /etc/pacemaker:/etc/pacemaker (the launcher installs the key there, mode 0640, "
    "root:haclient), only if you run bundles"
)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040...)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_root(mountinfo: str, target: str) -> str | None:
    """The root (the path inside its source filesystem) of the mount at `target`; the last
    one when several are stacked there. None: `target` is not a mount point."""
    root = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) >= 5 and _unescape(fields[4]) == target:
            root = _unescape(fields[3])
    return root


def finding(engine_socket: str | None, keyfile: str | None, mountinfo: str) -> Finding | None:
    """What a bundle replica started from here gets as its key; None when no engine socket is
    mounted or this node has no remote key (then it runs no bundle anyway)."""
    if not engine_socket or keyfile is None:
        return None
    topic = "bundle key"
    if keyfile != BUNDLE_KEY:
        return Finding(
            topic,
            False,
            f"this node's remote key is at {keyfile} (PCMK_authkey_location), but Pacemaker "
            f"maps the engine host's {BUNDLE_KEY} into every bundle replica",
            f"unset PCMK_authkey_location and {FIX}",
        )
    for target, suffix in ((BUNDLE_KEY, BUNDLE_KEY), (KEY_DIR, KEY_DIR)):
        root = mount_root(mountinfo, target)
        if root is None:
            continue
        if root.rstrip("/").endswith(suffix):
            return Finding(
                topic,
                True,
                f"{target} is the host's (a bind mount): bundle replicas started through the "
                "engine get this node's remote key",
            )
        return Finding(
            topic,
            False,
            f"{target} is mounted from {root} on its host, not from the host's {target}: "
            f"Pacemaker maps the engine host's {BUNDLE_KEY} into every bundle replica, so a "
            "replica gets another key and does not connect (unless the bundle maps this "
            "directory and sets PCMK_authkey_location in its options)",
            FIX,
        )
    return Finding(
        topic,
        False,
        f"this node's remote key is in this container only: Pacemaker maps the engine host's "
        f"{BUNDLE_KEY} into every bundle replica (an empty directory, made by the engine, "
        "where the host has none), so a replica started from here does not connect",
        FIX,
    )


def read_finding(engine_socket: str | None, keyfile: str | None) -> Finding | None:
    """finding() for this process's mounts."""
    if not engine_socket or keyfile is None:
        return None
    try:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    except OSError:
        mountinfo = ""
    return finding(engine_socket, keyfile, mountinfo)
