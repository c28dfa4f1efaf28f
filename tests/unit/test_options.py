"""options.py: the defaults in one place, and the typed Options the command line hands PID 1
through the pipe (a JSON object, nothing re-parsed from strings)."""

from __future__ import annotations

import json

import pytest

from pcmk_launch import cli, options, services, settings
from pcmk_launch.errors import Problems
from pcmk_launch.options import Options
from tests.unit.scenarios import load


def test_the_handoff_is_every_option_typed_and_survives_json(tmp_path):
    node = load({"PCMK_STOP_TIMEOUT": "45", "PCMK_METRICS": "on"})
    args = cli.parser().parse_args([f"--corosync-conf={tmp_path}/c.conf", "--log-socket="])
    sent = cli.supervisor_handoff(args, node)["supervise"]
    assert set(sent) == set(options.FIELDS)
    got = Options.from_dict(json.loads(json.dumps(sent)))
    assert got.to_dict() == sent
    assert (got.stop_timeout, got.corosync_conf, got.log_socket) == (45.0, f"{tmp_path}/c.conf", "")
    assert got.metrics_address == ":9664" and isinstance(got.start_timeout, float)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"no_such_option": 1}, "unknown option no_such_option"),
        ({"remote_port": "3121"}, "remote_port must be int"),
        ({"remote_port": True}, "remote_port must be int"),
        ({"stop_timeout": "90"}, "stop_timeout must be float"),
        ({"role": None}, "role must be str"),
    ],
)
def test_a_field_unknown_or_of_the_wrong_type_is_refused(values, error):
    with pytest.raises(TypeError, match=error):
        Options.from_dict(values)


def test_an_int_is_a_float_option_and_a_left_out_field_keeps_its_default():
    opts = Options.from_dict({"stop_timeout": 30})
    assert opts.stop_timeout == 30.0 and isinstance(opts.stop_timeout, float)
    assert opts.start_timeout == options.START_TIMEOUT and opts.remote_port == 3121


def test_the_defaults_are_the_same_everywhere():
    s = settings.Settings()
    opts = Options()
    assert s.remote_port == opts.remote_port == options.REMOTE_PORT
    assert (s.start_timeout, s.stop_timeout, s.corosync_stop_timeout) == (
        opts.start_timeout,
        opts.stop_timeout,
        opts.corosync_stop_timeout,
    )
    parsed = settings.parse_settings({}, Problems())
    assert parsed.start_timeout == s.start_timeout and parsed.stop_timeout == s.stop_timeout
    assert parsed.log_format == s.log_format and parsed.metrics_address == s.metrics_address
    assert settings.VARIABLES["PCMK_STOP_TIMEOUT"][0] == "90"
    (remoted,) = services.remote_plan(Options())
    assert remoted.ready[-1] == str(options.REMOTE_PORT)
    args = cli.parser().parse_args([])
    assert (args.corosync_conf, args.run_dir) == (options.COROSYNC_CONF, options.RUN_DIR)
