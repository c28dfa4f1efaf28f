"""Booth's configuration from PCMK_BOOTH_*: checks that report every problem, the rendered
booth.conf, its key, and the booth/kernel combination that hangs."""

from __future__ import annotations

import pytest

from pcmk_launch import authkey, booth
from pcmk_launch.errors import Problems

ENV = {
    "PCMK_BOOTH_SITES": "192.0.2.50 198.51.100.50",
    "PCMK_BOOTH_ARBITRATORS": "203.0.113.5",
    "PCMK_BOOTH_TICKETS": "db:expire=60,acquire-after=10,timeout=2,retries=5 web",
    "PCMK_BOOTH_AUTHKEY_PASSPHRASE": "a booth passphrase for every site",
}


def parse(env, role="cluster"):
    problems = Problems()
    return booth.parse(env, problems, role), problems.items


def test_a_good_configuration_renders_booths_file():
    conf, problems = parse(ENV)
    assert problems == []
    assert booth.render(conf) == (
        "# booth.conf written by pcmk_launch from PCMK_BOOTH_* at every start.\n"
        'transport = "UDP"\n'
        "port = 9929\n"
        'authfile = "/etc/booth/authkey"\n'
        'site = "192.0.2.50"\n'
        'site = "198.51.100.50"\n'
        'arbitrator = "203.0.113.5"\n'
        'ticket = "db"\n'
        "    expire = 60\n"
        "    acquire-after = 10\n"
        "    timeout = 2\n"
        "    retries = 5\n"
        'ticket = "web"\n'
    )


def test_no_booth_variables_no_booth_but_an_arbitrator_needs_them():
    assert parse({}) == (None, [])
    conf, problems = parse({}, role="arbitrator")
    assert conf is None
    assert any("PCMK_ROLE=arbitrator needs PCMK_BOOTH_ARBITRATORS" in p for p in problems)


def test_every_problem_is_reported_at_once_each_with_a_fix():
    env = {
        "PCMK_BOOTH_SITES": "192.0.2.50 nonsense 127.0.0.1",
        "PCMK_BOOTH_ARBITRATORS": "2001:db8::5",
        "PCMK_BOOTH_TICKETS": "db_1 web:expire=0 app:colour=red db2:expire=20 x x",
        "PCMK_BOOTH_PORT": "99999",
    }
    conf, problems = parse(env)
    assert conf is None
    text = "\n".join(problems)
    for says in (
        "'nonsense' is not an IP address",
        "127.0.0.1 cannot be reached from the other sites",
        "PCMK_BOOTH_SITES names 1 site(s)",
        "mix IPv4 and IPv6",
        "'db_1' is not a booth ticket name",
        "expire=0 is out of range",
        "'colour=red' is not an option we pass to booth",
        "timeout*(retries+1) < the renewal period; here 5*(10+1) = 55 s is not less than 10 s",
        "a ticket is named twice",
        "PCMK_BOOTH_PORT='99999' is not a port",
    ):
        assert says in text, (says, text)
    assert all("Fix:" in p for p in problems)


def test_two_sites_alone_cannot_decide_after_a_site_loss():
    env = {**ENV, "PCMK_BOOTH_ARBITRATORS": ""}
    _, problems = parse(env)
    assert any("at least 3 members" in p and "PCMK_ROLE=arbitrator" in p for p in problems)


@pytest.mark.parametrize(
    "booth_version, kernel, hangs",
    [
        ("boothd 1.0 (build 283)", "6.18.44-fc-v1272", True),
        ("1.0-283-g9d4029a", "6.9.0", True),
        ("1.0", "6.8.12-amd64", False),
        ("boothd 1.2", "6.18.44", False),
        ("unknown", "6.18", False),
    ],
)
def test_booth_before_1_2_hangs_on_linux_6_9_and_newer(booth_version, kernel, hangs):
    assert booth.hangs_on(booth_version, kernel) is hangs


def fake_reader(files):
    def read(path):
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    return read


def test_a_passphrase_gives_every_site_the_same_text_key_whatever_its_cluster_name():
    problems = Problems()
    a = booth.resolve_key({**ENV, "PCMK_CLUSTER_NAME": "site-a"}, fake_reader({}), problems)
    b = booth.resolve_key({**ENV, "PCMK_CLUSTER_NAME": "site-b"}, fake_reader({}), problems)
    assert problems.items == []
    assert a == b and a.install and a.length == 64
    assert a.data.decode().isalnum()  # hex text: booth trims white space around a key


def test_a_key_file_must_fit_booth_and_not_be_readable_by_others():
    env = {k: v for k, v in ENV.items() if "PASSPHRASE" not in k}
    for data, mode, says in (
        (b"short", 0o600, "is 5 bytes long; booth needs 8 to 64 bytes"),
        (b"x" * 65, 0o600, "is 65 bytes long; booth needs 8 to 64 bytes"),
        (b"x" * 32, 0o644, "boothd refuses such a key. Fix: chmod 0600 /etc/booth/authkey"),
    ):
        problems = Problems()
        files = {booth.KEYFILE: authkey.KeyFile(data, 0, mode)}
        assert booth.resolve_key(env, fake_reader(files), problems) is None
        assert says in problems.items[0], problems.items
    problems = Problems()
    assert booth.resolve_key(env, fake_reader({}), problems) is None
    assert "booth (PCMK_BOOTH_*) needs its authkey" in problems.items[0]
    files = {booth.KEYFILE: authkey.KeyFile(b"k" * 32, 0, 0o400)}
    key = booth.resolve_key(env, fake_reader(files), Problems())
    assert key is not None and not key.install
