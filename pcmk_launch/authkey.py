"""The corosync authkey: where it comes from, checks, and derivation from a passphrase.

Multi-node clusters encrypt and authenticate their traffic (knet aes256 + sha256) unless
the operator opts out with PCMK_CRYPTO=off. The key comes, first match wins, from
PCMK_AUTHKEY_FILE, PCMK_AUTHKEY_PASSPHRASE (every host derives the same key), the Docker
secret /run/secrets/corosync-authkey, or authkey beside corosync.conf (/etc/corosync/authkey).
Key bytes never appear in output: only their length and a fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import Problems
from .nodelist import show

MIN_KEY, MAX_KEY = 128, 4096  # corosync-keygen's allowed range, in bytes
KEY_SIZE = 256  # corosync-keygen's default
SECRET_PATH = "/run/secrets/corosync-authkey"
PATH_RE = re.compile(r"/[A-Za-z0-9_.@+/-]{1,255}\Z")
HOW_TO_MAKE = (
    "make one key for all hosts with `docker run --rm IMAGE keygen > authkey` and mount it on "
    "every host (-v $PWD/authkey:/etc/corosync/authkey:ro, or as the Docker secret "
    "corosync-authkey), or set the same PCMK_AUTHKEY_PASSPHRASE on every host, "
    "or set PCMK_CRYPTO=off to run unencrypted"
)


@dataclass(frozen=True)
class KeyFile:
    data: bytes
    uid: int
    mode: int


# path -> KeyFile; raises OSError. Injected so tests need no real files.
KeyReader = Callable[[str], KeyFile]


@dataclass(frozen=True)
class Crypto:
    """What corosync.conf needs, plus what --dry-run may show."""

    keyfile: str  # the path corosync reads
    source: str  # where the key came from, for messages
    fingerprint: str
    length: int
    derived: bytes | None = field(default=None, repr=False)  # to be written to keyfile
    loose: bool = False  # group or others may read the key file: a warning, not a refusal


def read_key_file(path: str) -> KeyFile:  # pragma: no cover - thin I/O shell
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        return KeyFile(f.read(MAX_KEY + 1), st.st_uid, stat.S_IMODE(st.st_mode))


def fingerprint(key: bytes) -> str:
    return "sha256:" + hashlib.sha256(key).hexdigest()[:16]


# scrypt cost: N=2**14, r=8 needs 128*N*r = 16 MiB and takes ~50 ms on one core. A passphrase
# is low-entropy and knet traffic can be captured, so each guess must cost memory and time
# (HKDF costs neither); but every node derives at start, so it must stay well under a second
# and far below a container's memory limit. Changing these changes every derived key.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
KDFS = ("scrypt", "hkdf")  # hkdf: the derivation before scrypt, for clusters still keyed by it
COROSYNC, REMOTE = "corosync authkey", "pacemaker remote authkey"  # purposes: never equal keys


def derive(
    passphrase: str,
    cluster_name: str,
    length: int = KEY_SIZE,
    purpose: str = COROSYNC,
    kdf: str = "scrypt",
) -> bytes:
    """The same passphrase, cluster name and purpose give the same key on every host."""
    if kdf == "hkdf":
        return _hkdf(passphrase, cluster_name, length, purpose)
    salt = f"pcmk_launch:{cluster_name}:{purpose}".encode()
    return hashlib.scrypt(
        passphrase.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=length,
    )


def _hkdf(passphrase: str, cluster_name: str, length: int, purpose: str) -> bytes:
    """HKDF-SHA256 (RFC 5869), byte for byte the old derivation for the corosync purpose."""
    prk = hmac.new(f"pcmk_launch:{cluster_name}".encode(), passphrase.encode(), "sha256").digest()
    out, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + purpose.encode() + bytes([counter]), "sha256").digest()
        out += block
    return out[:length]


def kdf_of(env: Mapping[str, str], problems: Problems) -> str:
    kdf = env.get("PCMK_AUTHKEY_KDF", "scrypt")
    if kdf not in KDFS:
        problems.add(
            f"PCMK_AUTHKEY_KDF={show(kdf)} is unknown. Fix: use scrypt (default), or hkdf "
            "only while a cluster keyed by the old derivation moves to scrypt."
        )
        return "scrypt"
    return kdf


# The Pacemaker Remote key: full nodes' controllers and pacemaker-remoted authenticate their
# TLS connection (TCP 3121) with it. Pacemaker reads it from /etc/pacemaker/authkey.
REMOTE_SECRET = "/run/secrets/pacemaker-authkey"
REMOTE_KEYFILE = "/etc/pacemaker/authkey"
REMOTE_MODE = 0o640  # root:haclient: pacemaker-controld runs as hacluster and must read it
REMOTE_HOW = (
    "make one key for the whole cluster with `docker run --rm IMAGE keygen > pacemaker-authkey` "
    "and mount it on every full and remote node (as the Docker secret pacemaker-authkey, or at "
    f"{REMOTE_KEYFILE}), or set the same PCMK_REMOTE_AUTHKEY_PASSPHRASE everywhere"
)


@dataclass(frozen=True)
class KeyKind:
    """What tells the two keys apart; the way each is found and checked is the same."""

    file_var: str  # names the key file
    passphrase_var: str  # derives the key
    secret: str  # the Docker secret, looked for before the default path
    purpose: str  # of the derivation: the two keys are never equal
    daemon: str  # who reads the key, for the length message
    needed: str  # the start of the message when no key is found
    how: str  # how to make one, for the Fix: of most messages
    chown: str  # owner and mode the Fix: of a wrongly owned file asks for
    mode: int
    loose_bits: int  # mode bits that make the file "loose": a warning, not a refusal
    min_len: int = MIN_KEY  # bytes the daemon accepts
    max_len: int = MAX_KEY
    derived_len: int = KEY_SIZE  # bytes derived from a passphrase
    hex: bool = False  # derived key written as hex text (booth trims a key's white space)
    salt_name: str | None = None  # in the derivation instead of the cluster name, if set


COROSYNC_KEY = KeyKind(
    file_var="PCMK_AUTHKEY_FILE",
    passphrase_var="PCMK_AUTHKEY_PASSPHRASE",
    secret=SECRET_PATH,
    purpose=COROSYNC,
    daemon="corosync",
    needed="PCMK_CRYPTO=on (the default whenever PCMK_NODE_LIST is set) needs an authkey",
    how=HOW_TO_MAKE,
    chown="root:root",
    mode=0o400,
    loose_bits=0o077,
)
REMOTE_KEY = KeyKind(
    file_var="PCMK_REMOTE_AUTHKEY_FILE",
    passphrase_var="PCMK_REMOTE_AUTHKEY_PASSPHRASE",
    secret=REMOTE_SECRET,
    purpose=REMOTE,
    daemon="pacemaker",
    needed="a remote node needs the Pacemaker Remote authkey",
    how=REMOTE_HOW,
    chown="root:haclient",
    mode=REMOTE_MODE,
    loose_bits=0o007,
)


@dataclass(frozen=True)
class Found:
    """A key from a passphrase (derived) or from the file at source."""

    source: str  # the passphrase variable or the file's path
    data: bytes = field(repr=False)
    derived: bool
    loose: bool = False


def find_key(
    kind: KeyKind,
    env: Mapping[str, str],
    cluster_name: str,
    kdf: str,
    default_path: str,
    reader: KeyReader,
    problems: Problems,
    required: bool = True,
    owners: tuple[int, ...] = (0,),
) -> Found | None:
    """The key of this kind, first match wins: its file variable, its passphrase variable, its
    Docker secret, default_path. None when there is none (a problem only if required) or it
    is refused; every problem is recorded."""
    path = env.get(kind.file_var, "")
    passphrase = env.get(kind.passphrase_var, "")
    if path and passphrase:
        problems.add(
            f"{kind.file_var} and {kind.passphrase_var} are both set. Fix: set only one of them."
        )
        return None
    if passphrase:
        if not 16 <= len(passphrase) <= 1024:
            problems.add(
                f"{kind.passphrase_var} has {len(passphrase)} characters; 16 to 1024 "
                "are accepted. Fix: use a long random passphrase (e.g. openssl rand -base64 32)."
            )
            return None
        name = cluster_name if kind.salt_name is None else kind.salt_name
        key = derive(passphrase, name, kind.derived_len, purpose=kind.purpose, kdf=kdf)
        return Found(kind.passphrase_var, key.hex().encode() if kind.hex else key, derived=True)
    var = kind.file_var
    if path:
        if not _plain_path(path):
            problems.add(
                f"{kind.file_var}={show(path)} is not a plain absolute path. "
                f"Fix: use e.g. {kind.secret}."
            )
            return None
    else:
        candidates = [kind.secret, default_path]
        path = next((p for p in candidates if _present(reader, p)), "")
        if not path:
            if required:
                problems.add(
                    f"{kind.needed}, and none was found (looked for {kind.file_var}, "
                    f"{kind.passphrase_var}, {', '.join(candidates)}). Fix: {kind.how}."
                )
            return None
        var = f"authkey {path}"
    file = _check_file(kind, path, var, reader, problems, owners)
    if file is None:
        return None
    return Found(path, file.data, derived=False, loose=bool(file.mode & kind.loose_bits))


def _plain_path(path: str) -> bool:
    return bool(PATH_RE.match(path)) and "/../" not in path + "/"


def _check_file(
    kind: KeyKind,
    path: str,
    var: str,
    reader: KeyReader,
    problems: Problems,
    owners: tuple[int, ...],
) -> KeyFile | None:
    try:
        key = reader(path)
    except FileNotFoundError:
        problems.add(f"{var}: the authkey {path} does not exist. Fix: {kind.how}.")
        return None
    except OSError as exc:
        problems.add(
            f"{var}: cannot read the authkey {path}: {exc.strerror}. Fix: make it "
            "readable by root (chmod 0400, chown root)."
        )
        return None
    if not kind.min_len <= len(key.data) <= kind.max_len:
        what = "empty" if not key.data else f"{len(key.data)} bytes long"
        problems.add(
            f"{var}: the authkey {path} is {what}; {kind.daemon} needs {kind.min_len} to "
            f"{kind.max_len} bytes. Fix: {kind.how}."
        )
        return None
    if key.uid not in owners:
        problems.add(
            f"{var}: the authkey {path} is owned by uid {key.uid}, not root. "
            f"Fix: chown {kind.chown} {path} && chmod 0{kind.mode:o} {path} "
            "(on the host, for a bind mount)."
        )
        return None
    return key


def _present(reader: KeyReader, path: str) -> bool:
    """A candidate counts once it exists, even unreadable: its problem is then reported."""
    try:
        reader(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def resolve(
    env: Mapping[str, str],
    cluster_name: str,
    standalone: bool,
    conf_dir: str,
    run_dir: str,
    reader: KeyReader,
    problems: Problems,
) -> Crypto | None:
    """The key for this cluster, or None for no crypto; every problem is recorded."""
    kdf = kdf_of(env, problems)  # checked even unused: a typo must not wait for a passphrase
    mode = env.get("PCMK_CRYPTO", "on")
    if mode not in ("on", "off"):
        problems.add(f"PCMK_CRYPTO={show(mode)} is unknown. Fix: use on (default) or off.")
        return None
    if mode == "off" or standalone:
        return None  # a standalone node talks only to itself on loopback
    default = os.path.join(conf_dir, "authkey")
    key = find_key(COROSYNC_KEY, env, cluster_name, kdf, default, reader, problems)
    if key is None:
        return None
    if key.derived:
        keyfile = os.path.join(run_dir, "authkey")
        return Crypto(keyfile, key.source, fingerprint(key.data), len(key.data), derived=key.data)
    return Crypto(key.source, key.source, fingerprint(key.data), len(key.data), loose=key.loose)


@dataclass(frozen=True)
class RemoteKey:
    """The Pacemaker Remote key and whether the launcher must install it at REMOTE_KEYFILE."""

    source: str
    fingerprint: str
    length: int
    data: bytes = field(repr=False)
    install: bool  # False when the key already is at keyfile
    loose: bool = False  # others may read it: a warning
    keyfile: str = REMOTE_KEYFILE  # where pacemaker reads it (PCMK_authkey_location)


def resolve_remote(
    env: Mapping[str, str],
    cluster_name: str,
    reader: KeyReader,
    problems: Problems,
    required: bool = False,
    owners: tuple[int, ...] = (0,),
) -> RemoteKey | None:
    """The remote key, or None when none is set (a full node without remote nodes).

    owners: uids a key file may belong to; pcs makes the key hacluster's, so the caller adds
    that uid when the host has one.
    """
    kdf = kdf_of(env, Problems())  # resolve() reports a bad PCMK_AUTHKEY_KDF once
    # Pacemaker's own PCMK_authkey_location moves the key for its daemons; install it there.
    keyfile = env.get("PCMK_authkey_location", "") or REMOTE_KEYFILE
    if not _plain_path(keyfile):
        problems.add(
            f"PCMK_authkey_location={show(keyfile)} is not a plain absolute path. "
            f"Fix: unset it (pacemaker's default is {REMOTE_KEYFILE})."
        )
        return None
    key = find_key(REMOTE_KEY, env, cluster_name, kdf, keyfile, reader, problems, required, owners)
    if key is None:
        return None
    return RemoteKey(
        key.source,
        fingerprint(key.data),
        len(key.data),
        key.data,
        install=key.derived or key.source != keyfile,
        loose=key.loose,
        keyfile=keyfile,
    )
