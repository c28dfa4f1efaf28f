"""PCMK_ROLE=arbitrator and booth on site nodes: settings, refusals (all at once), the service
plan, the dry run, and what health and status parse (crm_mon's tickets, `booth list`)."""

from __future__ import annotations

import sys

from pcmk_launch import booth, cli, health, services, settings
from pcmk_launch.options import Options
from tests.unit.scenarios import load, refuse

BOOTH = {
    "PCMK_BOOTH_SITES": "192.0.2.50 198.51.100.50",
    "PCMK_BOOTH_ARBITRATORS": "203.0.113.5",
    "PCMK_BOOTH_TICKETS": "db:expire=60,timeout=2,retries=5",
    "PCMK_BOOTH_AUTHKEY_PASSPHRASE": "a booth passphrase for every site",
}
ARBITRATOR = {"PCMK_ROLE": "arbitrator", **BOOTH}


def test_an_arbitrator_is_booth_alone_on_one_of_its_addresses():
    node = load(ARBITRATOR, "203.0.113.5")
    assert isinstance(node, settings.ArbitratorNode)
    assert node.settings.role == "arbitrator" and node.settings.booth_port == 9929
    assert node.booth.arbitrators == ("203.0.113.5",)
    assert node.booth_key.install and node.booth_key.length == 64


def test_an_arbitrator_refuses_what_it_cannot_use_and_a_foreign_address_at_once():
    err = refuse(
        {**ARBITRATOR, "PCMK_NODE_LIST": "192.0.2.1 192.0.2.2", "PCMK_METRICS": "on"},
        "192.0.2.9",
    )
    text = "\n".join(err.problems)
    assert "PCMK_NODE_LIST is set, but PCMK_ROLE=arbitrator runs boothd alone" in text
    assert "PCMK_METRICS is set" in text
    assert "none of 203.0.113.5 is an address of this host (it has 192.0.2.9)" in text
    assert all("Fix:" in p for p in err.problems)


def test_a_site_node_carries_booth_and_its_key():
    cluster = load({"PCMK_NODE_LIST": "192.0.2.1 192.0.2.2", **BOOTH}, "192.0.2.1")
    assert cluster.booth is not None and cluster.booth.sites == ("192.0.2.50", "198.51.100.50")
    assert cluster.booth_key is not None
    assert load({"PCMK_NODE_LIST": "192.0.2.1 192.0.2.2"}, "192.0.2.1").booth is None
    err = refuse({"PCMK_NODE_LIST": "192.0.2.1 192.0.2.2", "PCMK_BOOTH_TICKETS": "db"}, "192.0.2.1")
    assert any("PCMK_BOOTH_SITES names 0 site(s)" in p for p in err.problems)


def test_the_arbitrator_plan_is_boothd_in_the_foreground_ready_on_its_port():
    (boothd,) = services.PLANS["arbitrator"](Options(role="arbitrator", booth_port=9930))
    assert boothd.argv == ["boothd", "daemon", "-S", "-c", booth.CONF]
    assert boothd.ready == [sys.executable, "-m", "pcmk_launch.listening", "9930"]
    assert services.BOOTH_CONF == booth.CONF
    env = settings.pacemaker_env(settings.Settings(role="arbitrator"), {})
    assert env["HA_logfacility"] == "none"  # stderr only: no second copy through syslog


def test_the_dry_run_shows_booths_file_and_writes_nothing(tmp_path, capsys):
    conf = tmp_path / "etc" / "corosync.conf"
    conf.parent.mkdir()
    argv = ["--dry-run", f"--corosync-conf={conf}", f"--run-dir={tmp_path / 'run'}"]
    interfaces = {"eth0": ["203.0.113.5"]}
    assert cli.main(argv, env=ARBITRATOR, interfaces=interfaces) == 0
    out = capsys.readouterr().out
    assert "role: booth arbitrator" in out
    assert 'arbitrator = "203.0.113.5"' in out and 'ticket = "db"' in out
    assert "passphrase" not in out  # the key is shown by fingerprint only
    assert list(tmp_path.iterdir()) == [tmp_path / "etc"] and not conf.exists()


CRM_MON_TICKETS = """<pacemaker-result api-version="2.3" request="crm_mon --output-as=xml">
  <summary><current_dc present="true" name="a1" with_quorum="true"/></summary>
  <nodes><node name="a1" id="1" online="true" standby="false"/></nodes>
  <tickets>
    <ticket id="db" status="granted" standby="false" last-granted="Mon Dec  7 01:30:00 2026"/>
    <ticket id="web" status="revoked" standby="false"/>
  </tickets>
</pacemaker-result>"""


def test_status_reads_the_sites_tickets_and_what_booth_lists():
    state = health.parse(CRM_MON_TICKETS)
    assert [(t.id, t.granted) for t in state.tickets] == [("db", True), ("web", False)]
    text = health.summary(state, "site-a", "a1")
    assert "ticket db: granted to this site" in text and "ticket web: not granted here" in text
    listed = health.booth_list(
        "ticket: db, leader: 192.0.2.50, expires: 2026-12-07 01:40:12\nticket: web, leader: NONE\n"
    )
    assert listed == [
        {"ticket": "db", "leader": "192.0.2.50", "expires": "2026-12-07 01:40:12"},
        {"ticket": "web", "leader": None, "expires": None},
    ]


def test_an_arbitrator_without_kill_setuid_or_setgid_is_refused_before_anything_is_written(
    tmp_path, capsys
):
    from pcmk_launch.hostcheck import HostFacts

    facts = HostFacts(
        caps=("CHOWN", "SETUID"),
        rmem_max=None,
        wmem_max=None,
        realtime=None,
        memlock=None,
        engine_socket=None,
        corosync_version=None,
    )
    argv = ["render", f"--corosync-conf={tmp_path / 'corosync.conf'}"]
    interfaces = {"eth0": ["203.0.113.5"]}
    code = cli.main(argv, env=ARBITRATOR, interfaces=interfaces, host_facts=facts)
    err = capsys.readouterr().err
    assert code == 2
    assert "CAP_KILL: the launcher stops boothd" in err and "CAP_SETGID" in err
    assert "--cap-add=KILL --cap-add=SETGID" in err and "SETUID:" not in err
