"""Session 40 audit: ``--help`` of the training CLIs says what each option is.

The options are generated from the config dataclasses (``train.common.add_dataclass_args``); they
listed only their defaults (``--augment AUGMENT (default tracker)``), which a new user could not
choose options by."""
import argparse
import dataclasses
import importlib
import re

import pytest

from train import common
from train.augment import AUGMENT_PRESETS
from train.train_detector import DetTrainConfig
from train.train_landmarks import TrainConfig

CONFIGS = [common.LoopConfig, TrainConfig, DetTrainConfig]
CLIS = [("train.train_landmarks", TrainConfig), ("train.train_detector", DetTrainConfig)]


def _options(cls) -> list[tuple[dataclasses.Field, argparse.Action, str]]:
    """(field, its generated option, the help text argparse shows for it) of each field of ``cls``."""
    p = argparse.ArgumentParser()
    common.add_dataclass_args(p, cls)
    actions = {a.dest: a for a in p._actions}
    formatter = p._get_formatter()
    out = []
    for f in dataclasses.fields(cls):
        a = actions[f.name]
        out.append((f, a, formatter._expand_help(a)))   # %-expanded, as --help prints it
    return out


def _what(shown: str) -> str:
    """The help text before its trailing "(default X)"."""
    return re.sub(r"\s*\(default [^()]*\)$", "", shown)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_generated_option_says_what_it_is_then_its_default(cls):
    bare, wrong_default, multiline = [], [], []
    for f, action, shown in _options(cls):
        flag = action.option_strings[0]
        what = _what(shown)
        if not re.search(r"[A-Za-z]{3}", what):
            bare.append(f"{flag}: {shown!r}")
        # an empty path is shown as none, a boolean as it is typed (true|false)
        said = ("none" if action.default == "" else str(action.default).lower()
                if isinstance(action.default, bool) else action.default)
        if not shown.endswith(f"(default {said})") or action.default != f.default:
            wrong_default.append(f"{flag}: {shown!r}, field default {f.default!r}")
        if "\n" in shown:
            multiline.append(flag)
    assert not bare, f"{cls.__name__} options with no help beyond their default: {bare}"
    assert not wrong_default, wrong_default
    assert not multiline, f"one-line help expected (argparse wraps it): {multiline}"


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_options_with_a_fixed_set_of_values_name_exactly_the_values_the_code_takes(cls):
    """--device: train.common.DEVICES (check_device); --augment: train.augment.AUGMENT_PRESETS
    (augment_preset); true/false options: parse_bool's words. Named in the usage (metavar) and
    the device and preset names in the help too, so a new preset or device shows up here."""
    sets = {"device": set(common.DEVICES), "augment": set(AUGMENT_PRESETS)}
    checked = 0
    for f, action, shown in _options(cls):
        if f.name in sets:
            assert set(action.metavar.split("|")) == sets[f.name], (f.name, action.metavar)
            assert all(re.search(rf"\b{v}\b", _what(shown)) for v in sets[f.name]), (f.name, shown)
            checked += 1
        elif isinstance(f.default, bool):
            assert action.metavar == "true|false", (f.name, action.metavar)
            assert all(common.parse_bool(v) is (v == "true") for v in action.metavar.split("|"))
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("columns", ["60", "200"])
@pytest.mark.parametrize("module, cls", CLIS, ids=[m for m, _ in CLIS])
def test_cli_help_exits_0_and_shows_each_options_help(module, cls, columns, capsys, monkeypatch):
    """At a narrow and a wide terminal (argparse wraps usage and help to $COLUMNS)."""
    monkeypatch.setenv("COLUMNS", columns)
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code in (0, None)
    out = "".join(capsys.readouterr().out.split())   # wrapped lines and hyphen breaks joined
    missing = [a.option_strings[0] for _, a, shown in _options(cls)
               if "".join(f"{a.option_strings[0]} {a.metavar or ''}".split()) not in out
               or "".join(shown.split()) not in out]
    assert not missing, f"python -m {module} --help lacks these options or their help: {missing}"
