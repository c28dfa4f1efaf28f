"""The CIB on disk before pacemaker starts: refuse one this Pacemaker cannot read, and seed a
first one with the configured cluster properties where none exists (cib.py is the pure part)."""

from __future__ import annotations

import os
import shutil
import subprocess

from . import cib
from .errors import ConfigError, SetupError
from .fsutil import atomic_write
from .launchlog import LOG
from .settings import Cluster
from .statedirs import hacluster_ids

SCHEMA_DIR = "/usr/share/pacemaker"  # pacemaker-X.Y.rng: the CIB schemas this Pacemaker reads


def seed_cib(cluster: Cluster, path: str) -> None:
    """Write a first CIB with the configured properties, only where none exists."""
    props = cluster.settings.cluster_properties
    if not props or os.path.exists(path):
        return
    if not shutil.which("cibadmin"):
        LOG.notice("cibadmin not found; CIB not seeded")
        return
    try:
        empty = subprocess.run(
            ["cibadmin", "--empty"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or "").strip().splitlines() or [f"exit code {exc.returncode}"]
        LOG.warning(f"WARNING: cibadmin --empty failed ({said[-1]}); CIB not seeded")
        return
    except subprocess.TimeoutExpired:
        LOG.warning("WARNING: cibadmin --empty did not answer within 30s; CIB not seeded")
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, cib.seed(empty, props).encode(), mode=0o600, owner=hacluster_ids())
    except OSError as exc:
        raise SetupError(
            f"cannot write a first CIB to {path}: {exc.strerror}. Fix: mount a volume on "
            f"{os.path.dirname(path)} that root in the container can write (pacemaker keeps "
            "the cluster's configuration there), or point --cib-file elsewhere."
        ) from None
    LOG.notice("seeded a new CIB with " + " ".join(f"{k}={v}" for k, v in props))


def check_cib_schema(path: str, schema_dir: str = SCHEMA_DIR) -> None:
    """Refuse a CIB that this Pacemaker cannot read (a downgrade after a schema upgrade)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        schemas = os.listdir(schema_dir)
    except OSError:
        return  # no CIB yet (seeded below), or no schemas to compare with
    found = cib.too_new(text, schemas)
    if found:
        raise ConfigError(
            f"{path} is written in CIB schema {found[0]}, newer than this image's Pacemaker "
            f"reads (up to {found[1]}): the cluster's CIB was upgraded by a newer Pacemaker "
            "(cibadmin --upgrade), which cannot be undone. Fix: run this node on the newer "
            "image again; the CIB was left as it is."
        )
