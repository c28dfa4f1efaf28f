"""Key derivation: scrypt by default, the old HKDF on request, purposes never collide."""

import hashlib

from pcmk_launch import authkey
from pcmk_launch.errors import Problems

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
