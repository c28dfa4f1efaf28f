"""Key derivation: scrypt by default, the old HKDF on request, purposes never collide."""

import hashlib

import pytest

from pcmk_launch import authkey
from pcmk_launch.errors import ConfigError, Problems
from tests.unit.scenarios import KEY, FakeKeys, load

PASS = "correct horse battery staple"


def test_scrypt_primitive_matches_rfc7914():
    # RFC 7914 section 12, third vector: guards the primitive the derivation stands on.
    out = hashlib.scrypt(b"password", salt=b"NaCl", n=1024, r=8, p=16, dklen=64)
    assert out.hex().startswith("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")


def test_known_answers_pin_the_derivation():
    # Every node must derive the same bytes in every release: a change here splits clusters.
    assert authkey.derive(PASS, "docker")[:16].hex() == "0cb18c7213c81f8f0e8dea886e6b78ff"
    remote = authkey.derive(PASS, "docker", purpose=authkey.REMOTE)
    assert remote[:16].hex() == "2a66e60205496c9f02623335f58f8d72"
    old = authkey.derive(PASS, "docker", kdf="hkdf")  # the pre-scrypt derivation, unchanged
    assert old[:16].hex() == "19001d78d0771986cde068a519d03dc5"


def test_purposes_cluster_names_and_kdfs_give_different_keys():
    keys = {
        authkey.derive(PASS, "docker"),
        authkey.derive(PASS, "docker", purpose=authkey.REMOTE),
        authkey.derive(PASS, "other"),
        authkey.derive(PASS, "docker", kdf="hkdf"),
        authkey.derive(PASS, "docker", purpose=authkey.REMOTE, kdf="hkdf"),
    }
    assert len(keys) == 5
    assert all(len(k) == authkey.KEY_SIZE for k in keys)


def test_kdf_is_validated_even_without_a_passphrase():
    problems = Problems()
    assert authkey.kdf_of({"PCMK_AUTHKEY_KDF": "md5"}, problems) == "scrypt"
    (msg,) = problems.items
    assert "PCMK_AUTHKEY_KDF" in msg and "Fix:" in msg
    problems = Problems()
    assert authkey.kdf_of({"PCMK_AUTHKEY_KDF": "hkdf"}, problems) == "hkdf"
    assert not problems.items


# The Pacemaker Remote key: sources, checks, and what --dry-run shows.

TWO = {"PCMK_NODE_LIST": "192.0.2.1 192.0.2.2"}


def remote(env, files=None, problems=None, **kw):
    problems = Problems() if problems is None else problems
    key = authkey.resolve_remote(env, "docker", FakeKeys(files or {}), problems, **kw)
    return key, problems.items


def test_no_remote_key_is_fine_for_a_full_node_but_not_when_required():
    assert remote({}) == (None, [])
    key, (msg,) = remote({}, required=True)
    assert key is None and authkey.REMOTE_SECRET in msg and "Fix:" in msg


def test_remote_passphrase_never_gives_the_corosync_key():
    key, problems = remote({"PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS})
    assert not problems and key.install and key.length == authkey.KEY_SIZE
    assert key.data != authkey.derive(PASS, "docker")
    assert key.data == authkey.derive(PASS, "docker", purpose=authkey.REMOTE)


def test_remote_key_sources_in_order_and_installation():
    files = {authkey.REMOTE_SECRET: KEY, authkey.REMOTE_KEYFILE: KEY}
    key, _ = remote({}, files)
    assert key.source == authkey.REMOTE_SECRET and key.install
    key, _ = remote({}, {authkey.REMOTE_KEYFILE: KEY})
    assert key.source == authkey.REMOTE_KEYFILE and not key.install  # already in place
    key, _ = remote({"PCMK_REMOTE_AUTHKEY_FILE": "/keys/r"}, {"/keys/r": KEY})
    assert key.source == "/keys/r" and key.fingerprint == authkey.fingerprint(KEY.data)


def test_bad_remote_keys_name_the_variable_and_the_fix():
    short = authkey.KeyFile(b"k" * 16, 0, 0o400)
    user = authkey.KeyFile(KEY.data, 1000, 0o640)
    cases = {
        "PCMK_REMOTE_AUTHKEY_FILE": ({"PCMK_REMOTE_AUTHKEY_FILE": "/keys/short"}, short),
        "root:haclient": ({"PCMK_REMOTE_AUTHKEY_FILE": "/keys/short"}, user),
        "PCMK_REMOTE_AUTHKEY_PASSPHRASE has 5": ({"PCMK_REMOTE_AUTHKEY_PASSPHRASE": "short"}, KEY),
        "both set": (
            {"PCMK_REMOTE_AUTHKEY_FILE": "/k", "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS},
            KEY,
        ),
        "not a plain absolute path": ({"PCMK_REMOTE_AUTHKEY_FILE": "k/../x"}, KEY),
    }
    for words, (env, file) in cases.items():
        key, problems = remote(env, {"/keys/short": file})
        assert key is None and len(problems) == 1, words
        assert words in problems[0] and "Fix:" in problems[0], problems


def test_a_key_pcs_made_for_hacluster_is_accepted_when_that_uid_is_allowed():
    pcs_made = authkey.KeyFile(KEY.data, 189, 0o400)
    key, problems = remote({}, {authkey.REMOTE_KEYFILE: pcs_made}, owners=(0, 189))
    assert key is not None and not problems


def test_world_readable_remote_key_is_a_warning_not_a_refusal():
    key, problems = remote({}, {authkey.REMOTE_SECRET: authkey.KeyFile(KEY.data, 0, 0o644)})
    assert key.loose and not problems


def test_dry_run_plan_shows_the_remote_fingerprint_never_the_bytes():
    from pcmk_launch import preview

    env = {**TWO, "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS}
    cluster = load(env, "192.0.2.1")
    out = preview.describe(cluster, {"corosync_conf": "/etc/corosync/corosync.conf", "cib": "/x"})
    key = cluster.remote_key
    assert "pacemaker remote authkey: from PCMK_REMOTE_AUTHKEY_PASSPHRASE, installed at " in out
    assert key.fingerprint in out
    assert key.data.hex()[:16] not in out and PASS not in out and PASS not in repr(cluster)


def test_load_reports_every_key_problem_at_once():
    env = {**TWO, "PCMK_AUTHKEY_KDF": "bcrypt", "PCMK_REMOTE_AUTHKEY_PASSPHRASE": "short"}
    with pytest.raises(ConfigError) as exc:
        load(env, "192.0.2.1")
    text = str(exc.value)
    assert "PCMK_AUTHKEY_KDF=" in text and "PCMK_REMOTE_AUTHKEY_PASSPHRASE has 5" in text
