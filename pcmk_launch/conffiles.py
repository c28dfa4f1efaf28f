"""The files corosync and pacemaker read, written atomically: corosync.conf (tested first with
the real `corosync -t` on --check, so a refused file never replaces a good one), corosync's key
when it was derived from a passphrase, and the Pacemaker Remote key where pacemaker reads it.

A file that cannot be written is a SetupError (exit 2) naming the path and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess

from .authkey import REMOTE_MODE, Crypto, RemoteKey
from .booth import BoothKey
from .errors import ConfigError, SetupError
from .fsutil import atomic_write
from .launchlog import LOG
from .statedirs import hacluster_ids


def write_key(crypto: Crypto | None) -> None:
    """Put a derived key where corosync.conf says; a key file given by the operator stays."""
    if crypto is None:
        return
    if crypto.derived is not None:
        try:
            os.makedirs(os.path.dirname(crypto.keyfile), mode=0o700, exist_ok=True)
            atomic_write(crypto.keyfile, crypto.derived, mode=0o400)
        except OSError as exc:
            raise SetupError(
                f"cannot write the authkey derived from PCMK_AUTHKEY_PASSPHRASE to "
                f"{crypto.keyfile}: {exc.strerror}. Fix: give --run-dir a writable directory "
                "(a tmpfs such as /run is enough: the key is derived again at every start)."
            ) from None
    elif crypto.loose:
        LOG.warning(
            f"warning: the authkey {crypto.keyfile} is readable by group or others; chmod 0400 it"
        )


def write_remote_key(remote: RemoteKey | None) -> None:
    """Install the Pacemaker Remote key where pacemaker reads it, readable by haclient."""
    if remote is None:
        return
    if remote.loose:
        LOG.warning(f"warning: the authkey {remote.source} is readable by others; chmod 0640 it")
    if not remote.install:
        return
    ids = hacluster_ids()
    owner = (0, ids[1]) if ids is not None and os.geteuid() == 0 else None
    directory = os.path.dirname(remote.keyfile)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o750)
            if owner is not None:  # pacemaker-controld (hacluster) must get through to the key
                os.chown(directory, *owner)
        atomic_write(remote.keyfile, remote.data, mode=REMOTE_MODE, owner=owner)
    except OSError as exc:
        raise SetupError(
            f"cannot install the Pacemaker Remote key (from {remote.source}) at "
            f"{remote.keyfile}: {exc.strerror}. Fix: do not mount {directory} read-only, or "
            "point PCMK_authkey_location at a path the container can write."
        ) from None


def check_with_corosync(path: str) -> None:
    """Run the real `corosync -t` on a rendered file (needs the local node to match)."""
    if not shutil.which("corosync"):
        raise ConfigError("--check needs the corosync binary, which is not installed here.")
    result = subprocess.run(
        ["corosync", "-t", "-c", path], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        out = (result.stderr + result.stdout).strip().replace("\n", " | ")
        out = out or f"exit code {result.returncode}, no message (corosync logs to syslog)"
        raise ConfigError(f"corosync -t refused the rendered config: {out}")


def write_config(text: str, path: str, probe_text: str | None = None) -> None:
    """Write corosync.conf atomically; with probe_text, let `corosync -t` test it first."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(
            f"--corosync-conf {path}: directory {directory} does not exist. "
            "Fix: create it or point --corosync-conf elsewhere."
        )
    try:
        if probe_text is not None:
            # Test a copy beside the target first, so a refused file never replaces a good one.
            probe = path + ".check"
            atomic_write(probe, probe_text.encode())
            try:
                check_with_corosync(probe)
            finally:
                os.unlink(probe)
        atomic_write(path, text.encode(), mode=0o644)
    except OSError as exc:
        raise ConfigError(
            f"--corosync-conf {path}: cannot write it: {exc.strerror}. "
            "Fix: point --corosync-conf at a writable file path."
        ) from None


def write_booth(text: str, conf: str, key: BoothKey, keyfile: str) -> None:
    """booth.conf and, unless it is already there, booth's key (0600 root: boothd refuses a
    key anyone else may read)."""
    directory = os.path.dirname(conf)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        atomic_write(conf, text.encode(), mode=0o644)
        if key.install:
            atomic_write(keyfile, key.data, mode=0o600)
    except OSError as exc:
        raise SetupError(
            f"cannot write booth's configuration in {directory}: {exc.strerror}. Fix: give the "
            f"container a writable {directory} (with --read-only: --tmpfs {directory})."
        ) from None
