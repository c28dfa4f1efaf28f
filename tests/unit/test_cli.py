"""cli.main with an injected environment: --dry-run, render, exit codes, --version, --help.

config.load_cluster reads this machine's real interfaces (netifaces), so these tests use only
standalone mode or a one-entry list of 127.0.0.1, which every host has.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pcmk_launch import __version__, cli, config, corosync_conf, services
from tests.helpers.prereq import require_commands
from tests.unit.scenarios import BY_NAME

PASS = "correct horse battery staple"
ONE_NODE = {"PCMK_NODE_LIST": "127.0.0.1", "PCMK_AUTHKEY_PASSPHRASE": PASS}
NO_CIB = {"PCMK_CLUSTER_PROPERTIES": ""}  # nothing to seed: cibadmin is not run


class Paths:
    def __init__(self, tmp: Path):
        self.etc = tmp / "etc"
        self.etc.mkdir()
        self.conf = self.etc / "corosync.conf"
        self.cib = tmp / "cib" / "cib.xml"
        self.run = tmp / "run"

    def args(self, *extra: str) -> list[str]:
        return [
            *extra,
            "--corosync-conf",
            str(self.conf),
            "--cib-file",
            str(self.cib),
            "--run-dir",
            str(self.run),
        ]

    def listing(self) -> list[str]:
        return sorted(os.listdir(self.etc))


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


# ---------------------------------------------------------------- --dry-run


def test_dry_run_standalone_prints_plan_and_config_and_writes_nothing(paths, capsys):
    assert cli.main(paths.args("--dry-run"), env={}) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing is written or started" in out
    assert "mode: standalone one-node cluster" in out
    assert f"would write: {paths.conf}" in out
    assert f"--- {paths.conf} ---\n" in out
    assert out.endswith(BY_NAME["standalone"].render())  # the config is printed whole
    assert not paths.conf.exists()
    assert not paths.cib.exists() and not paths.cib.parent.exists()
    assert not paths.run.exists()
    assert paths.listing() == []
    assert "metrics: off" in out


def test_dry_run_says_where_metrics_are_scraped(paths, capsys):
    env = {"PCMK_METRICS": "on", "PCMK_METRICS_ADDRESS": "192.0.2.11:9664"}
    assert cli.main(paths.args("--dry-run"), env=env) == 0
    out = capsys.readouterr().out
    assert "then pacemakerd, then ha_cluster_exporter" in out
    assert "metrics: on, ha_cluster_exporter on 192.0.2.11:9664" in out
    assert "http://192.0.2.11:9664/metrics" in out


def test_dry_run_start_order_is_the_service_plans(paths, capsys, monkeypatch):
    assert cli.main(paths.args("--dry-run"), env={}) == 0
    line = "would start: corosync, ready once corosync-cfgtool -s answers, then pacemakerd\n"
    assert line in capsys.readouterr().out

    def with_booth(opts):  # a service added to the plan shows up, in its place
        corosync, pacemakerd = services.cluster_plan(opts)
        return [corosync, services.Service("boothd", ["boothd", "daemon"]), pacemakerd]

    monkeypatch.setitem(services.PLANS, "cluster", with_booth)
    assert cli.main(paths.args("--dry-run"), env={}) == 0
    assert "answers, then boothd, then pacemakerd\n" in capsys.readouterr().out


def test_bad_metrics_settings_exit_2_and_write_nothing(paths, capsys):
    env = {"PCMK_METRICS": "1", "PCMK_METRICS_ADDRESS": "all"}
    assert cli.main(paths.args(), env=env) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "PCMK_METRICS='1'" in err and "PCMK_METRICS_ADDRESS" in err
    assert paths.listing() == []


def test_dry_run_one_node_shows_crypto_but_writes_no_key(paths, capsys):
    assert cli.main(paths.args("--dry-run"), env=ONE_NODE) == 0
    out = capsys.readouterr().out
    assert "local node: nodeid 1 (127.0.0.1)" in out
    assert "<- this host" in out
    assert "crypto: aes256/sha256" in out and "PCMK_AUTHKEY_PASSPHRASE" in out
    assert f"keyfile: {paths.run}/authkey" in out
    assert not paths.run.exists() and not paths.conf.exists()


def test_dry_run_check_runs_corosync_t_and_still_writes_nothing(paths, capsys):
    require_commands("corosync")
    assert cli.main(paths.args("--dry-run", "--check"), env={}) == 0
    assert "corosync -t: the rendered config is valid" in capsys.readouterr().out
    assert paths.listing() == [] and not paths.cib.exists()


# ---------------------------------------------------------------- render


def test_render_writes_the_config_atomically(paths, capsys):
    assert cli.main(paths.args("render"), env=NO_CIB) == 0
    assert paths.conf.read_text() == BY_NAME["standalone"].render()
    assert stat.S_IMODE(paths.conf.stat().st_mode) == 0o644
    assert paths.listing() == ["corosync.conf"]  # no temp file left beside it
    assert f"wrote {paths.conf}" in capsys.readouterr().out


def test_render_replaces_an_old_file(paths):
    paths.conf.write_text("old\n")
    assert cli.main(paths.args("render"), env=NO_CIB) == 0
    assert paths.conf.read_text().startswith("# corosync.conf written by pcmk_launch")
    assert paths.listing() == ["corosync.conf"]


def test_render_writes_the_derived_key_where_the_config_says(paths):
    assert cli.main(paths.args("render"), env={**ONE_NODE, **NO_CIB}) == 0
    key = paths.run / "authkey"
    assert f"keyfile: {key}\n" in paths.conf.read_text()
    assert len(key.read_bytes()) == 256
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert paths.listing() == ["corosync.conf"]


def test_bad_config_exits_2_and_leaves_a_good_file_untouched(paths, capsys):
    assert cli.main(paths.args("render"), env=NO_CIB) == 0
    before = paths.conf.read_bytes(), paths.conf.stat().st_ino, paths.conf.stat().st_mtime_ns
    capsys.readouterr()
    env = {"PCMK_TOKEN_TIMEOUT": "soon", "PCMK_TRANSPORT": "tcp", "PCMK_NODELIST": "x"}
    assert cli.main(paths.args("render"), env=env) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pcmk-launch: configuration refused: 3 problems")
    for fragment in ["PCMK_TOKEN_TIMEOUT='soon'", "PCMK_TRANSPORT='tcp'", "PCMK_NODELIST"]:
        assert fragment in captured.err
    after = paths.conf.read_bytes(), paths.conf.stat().st_ino, paths.conf.stat().st_mtime_ns
    assert after == before
    assert paths.listing() == ["corosync.conf"]
    assert not paths.cib.exists()


def test_dry_run_with_bad_config_exits_2_with_the_message_on_stderr(paths, capsys):
    assert cli.main(paths.args("--dry-run"), env={"PCMK_CLUSTER_NAME": "a b"}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "PCMK_CLUSTER_NAME='a b'" in captured.err and "Fix:" in captured.err


def test_a_config_corosync_refuses_is_not_installed(paths, capsys):
    """render --check tests a copy first: a refused file never replaces the good one."""
    require_commands("corosync")
    assert cli.main(paths.args("render"), env=NO_CIB) == 0
    good = paths.conf.read_bytes()
    # one link, standalone: corosync -t refuses token 100 ("Not appropriate token ...")
    env = {**NO_CIB, "PCMK_TOKEN_TIMEOUT": "100"}
    assert cli.main(paths.args("render", "--check"), env=env) == 2
    assert paths.conf.read_bytes() == good
    assert paths.listing() == ["corosync.conf"]  # neither the .check probe nor a temp file
    assert "pcmk-launch: configuration refused" in capsys.readouterr().err


def test_missing_directory_is_a_config_error(tmp_path, capsys):
    target = tmp_path / "nowhere" / "corosync.conf"
    argv = ["render", "--corosync-conf", str(target), "--cib-file", str(tmp_path / "cib.xml")]
    assert cli.main(argv, env=NO_CIB) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not target.parent.exists()


def test_a_failed_write_leaves_no_temp_file_and_exits_2(paths, capsys):
    """The target is a directory, so the final rename fails (EISDIR)."""
    paths.conf.mkdir()
    try:
        code = cli.main(paths.args("render"), env=NO_CIB)
    except OSError as exc:  # the write error escaped as a traceback (exit code 1)
        code = f"uncaught {type(exc).__name__}"
    finally:
        assert paths.listing() == ["corosync.conf"], "a temp file was left behind"
        assert os.listdir(paths.conf) == []
    assert code == 2, f"a bad --corosync-conf must exit 2 with a message, got {code}"
    assert str(paths.conf) in capsys.readouterr().err


def test_render_seeds_a_new_cib_once(paths, capsys):
    require_commands("cibadmin")
    assert cli.main(paths.args("render"), env={}) == 0
    text = paths.cib.read_text()
    assert 'name="dc-deadtime"' in text and 'value="1s"' in text
    assert "seeded a new CIB with dc-deadtime=1s" in capsys.readouterr().out
    paths.cib.write_text("<cib>the cluster's own data</cib>\n")
    assert cli.main(paths.args("render"), env={"PCMK_CLUSTER_PROPERTIES": "dc-deadtime=9s"}) == 0
    assert paths.cib.read_text() == "<cib>the cluster's own data</cib>\n"
    assert sorted(os.listdir(paths.cib.parent)) == ["cib.xml"]


@pytest.mark.parametrize("mode", [["render"], ["--dry-run"]])
def test_a_cib_from_a_newer_pacemaker_is_refused_and_kept(paths, capsys, mode):
    # what a node sees when it is downgraded after `cibadmin --upgrade` on a newer Pacemaker
    require_commands("cibadmin")  # a Pacemaker whose schemas are installed
    paths.cib.parent.mkdir()
    newer = '<cib validate-with="pacemaker-99.0" epoch="7"><configuration/></cib>\n'
    paths.cib.write_text(newer)
    assert cli.main(paths.args(*mode), env={}) == 2
    err = capsys.readouterr().err
    assert "CIB schema pacemaker-99.0" in err and "Fix: run this node on the newer image" in err
    assert paths.cib.read_text() == newer and paths.listing() == []


def test_render_output_is_what_the_core_renders(paths):
    env = {**ONE_NODE, **NO_CIB, "PCMK_QUORUM": "wait_for_all=1", "PCMK_TOKEN_TIMEOUT": "5000"}
    assert cli.main(paths.args("render"), env=env) == 0
    cluster = config.load_cluster(env, cli.parser().parse_args(paths.args("render")))
    assert paths.conf.read_text() == corosync_conf.render(cluster)


# ---------------------------------------------------------------- --version, --help, usage


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"], env={})
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"pcmk-launch {__version__}\n"


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"], env={})
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for word in ["--dry-run", "--corosync-conf", "--cib-file", "--check", "Exit codes", "2 bad"]:
        assert word in out


def test_unknown_option_is_a_usage_error_with_code_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--no-such-option"], env={})
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_keygen_prints_a_key(capsysbinary):
    assert cli.main(["keygen"], env={}) == 0
    assert len(capsysbinary.readouterr().out) == 256


def test_dry_run_shows_the_remote_key_fingerprint_and_installs_nothing(paths, capsys):
    env = {**ONE_NODE, "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS + " remote"}
    assert cli.main(paths.args("--dry-run"), env=env) == 0
    out = capsys.readouterr().out
    assert "pacemaker remote authkey: from PCMK_REMOTE_AUTHKEY_PASSPHRASE" in out
    assert "sha256:" in out and PASS not in out
    assert paths.listing() == []


def test_bad_remote_key_exits_2_naming_the_variable(paths, capsys):
    env = {**ONE_NODE, "PCMK_REMOTE_AUTHKEY_FILE": "relative/key"}
    assert cli.main(paths.args(), env=env) == 2
    assert "PCMK_REMOTE_AUTHKEY_FILE=" in capsys.readouterr().err
    assert paths.listing() == []


# ---- files that cannot be written: exit 2 with the path and a fix, never a traceback --------


def test_a_key_that_cannot_be_written_exits_2_and_names_run_dir(paths, capsys):
    paths.run.write_text("a file where the key's directory should be\n")
    assert cli.main(paths.args("render"), env={**ONE_NODE, **NO_CIB}) == 2
    err = capsys.readouterr().err
    assert err.startswith("pcmk-launch: cannot prepare this node (nothing was started):\n")
    assert f"{paths.run}/authkey" in err and "Fix: give --run-dir a writable directory" in err
    assert paths.listing() == []  # corosync.conf comes after the key: not written


def test_a_remote_key_that_cannot_be_installed_exits_2(paths, capsys):
    blocker = paths.etc.parent / "pcmk"
    blocker.write_text("not a directory\n")
    env = {
        **ONE_NODE,
        **NO_CIB,
        "PCMK_REMOTE_AUTHKEY_PASSPHRASE": PASS + " remote",
        "PCMK_authkey_location": f"{blocker}/authkey",
    }
    assert cli.main(paths.args("render"), env=env) == 2
    err = capsys.readouterr().err
    assert "cannot install the Pacemaker Remote key" in err and f"{blocker}/authkey" in err
    assert "Fix: " in err and "Traceback" not in err


def test_a_cib_that_cannot_be_seeded_exits_2(tmp_path, paths, capsys):
    require_commands("cibadmin")
    (tmp_path / "cib").write_text("a file where the CIB's directory should be\n")
    assert cli.main(paths.args("render"), env={}) == 2
    err = capsys.readouterr().err
    assert f"cannot write a first CIB to {paths.cib}" in err and "Fix: " in err


def test_a_failing_cibadmin_leaves_the_cib_unseeded_with_a_warning(paths, capsys, monkeypatch):
    fake = paths.etc.parent / "bin"
    fake.mkdir()
    (fake / "cibadmin").write_text("#!/bin/sh\necho 'cibadmin: broken install' >&2\nexit 1\n")
    (fake / "cibadmin").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    assert cli.main(paths.args("render"), env={}) == 0
    out = capsys.readouterr().out
    assert "WARNING: cibadmin --empty failed (cibadmin: broken install); CIB not seeded" in out
    assert not paths.cib.exists()


def test_a_start_empties_what_a_host_boot_empties(tmp_path, capsys):
    from pcmk_launch import statedirs

    rsc = tmp_path / "resource-agents"
    (rsc / "sub").mkdir(parents=True)
    (rsc / "Dummy-dummy.state").write_text("")
    (rsc / "sub" / "x").write_text("")
    assert statedirs.clear_boot_dirs((str(rsc), str(tmp_path / "absent"))) == 2
    assert rsc.is_dir() and list(rsc.iterdir()) == []
    assert "removed 2 entries a previous run of this container left" in capsys.readouterr().out
    assert statedirs.clear_boot_dirs((str(rsc),)) == 0
