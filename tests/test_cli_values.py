"""Option values the command line refuses say what is wrong with them, in the option's words,
and the help says what ``auto`` really picks."""

from __future__ import annotations

import pytest

from streamcolor.cli.main import build_parser, main
from streamcolor.runtime import DEFAULT_MODEL
from streamcolor.runtime.precision import choose


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--temporal-strength", "abc", "'abc' is not a number from 0 to 1"),
    ("--temporal-strength", "1.5", "must be between 0 and 1, not 1.5"),
    ("--temporal-strength", "nan", "must be between 0 and 1, not nan"),
    ("--batch-size", "x", "'x' is not a whole number"),
    ("--batch-size", "0", "must be at least 1, not 0"),
])
def test_bad_values_are_named(capsys, option, value, said):
    with pytest.raises(SystemExit) as exit_:
        main(["colorize", "in.mkv", "-o", "out.mkv", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {said}" in err
    assert "invalid" not in err and "_strength" not in err


def _precision_help() -> str:
    colorize = build_parser()._subparsers._group_actions[0].choices["colorize"]
    action = next(a for a in colorize._actions if "--precision" in a.option_strings)
    return action.help


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the bundled model is not built")
def test_precision_help_says_what_the_cpu_gets():
    picked = choose(DEFAULT_MODEL, "auto", "cpu").precision
    text = _precision_help()
    assert f"on the CPU {picked}" in text
    assert "fp32 otherwise" not in text
