"""Docker's flag grammar (cli/flags.py) on `run`'s flag table."""

from __future__ import annotations

import pytest

from dockyard.cli.run import _run_args
from dockyard.errors import ConfigError


def test_flags_stop_at_the_image():
    a = _run_args(["--rm", "-e", "A=1", "busybox", "sh", "-c", "echo", "-it", "--rm"])
    assert a.rm and a.env == ["A=1"] and a.image == "busybox"
    assert a.args == ["sh", "-c", "echo", "-it", "--rm"]  # the container's, untouched


def test_combined_short_flags_and_attached_values():
    a = _run_args(["-dit", "-eX=1", "-e=Y=2", "--env=Z=3", "--name=web", "-u", "nobody", "img"])
    assert a.detach and a.interactive and a.tty
    assert a.env == ["X=1", "Y=2", "Z=3"] and a.name == "web" and a.user == "nobody"


def test_bool_values_and_defaults():
    a = _run_args(["--rm=false", "--init=true", "img"])
    assert a.rm is False and a.init is True and a.restart == "no" and a.volume == [] and a.cpus is None
    a = _run_args(["--cpus", "1.5", "--pids-limit", "20", "--stop-timeout", "3", "img"])
    assert (a.cpus, a.pids_limit, a.stop_timeout) == (1.5, 20, 3.0)


def test_double_dash_ends_flags():
    a = _run_args(["--rm", "--", "img", "--name"])
    assert a.image == "img" and a.args == ["--name"] and a.name is None


@pytest.mark.parametrize("argv, message", [
    (["--bogus", "img"], "unknown flag: --bogus"),
    (["--priv", "img"], "unknown flag: --priv"),  # no abbreviations, unlike argparse
    (["-dZ", "img"], "unknown shorthand flag"),
    (["--name"], "flag needs an argument: --name"),
    (["--rm"], "requires at least 1 argument"),
    (["--rm=maybe", "img"], "expected true or false"),
    (["--cpus", "lots", "img"], "invalid argument 'lots' for --cpus"),
])
def test_bad_flags_are_one_line_errors(argv, message):
    with pytest.raises(ConfigError, match=message):
        _run_args(argv)
