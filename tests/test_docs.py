"""The README's options tables (README and docs/options.md) against HandTrackerOptions: every
option listed once, with the default the code has, and the docs' relative links and anchors resolve."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from tracker import HandTrackerOptions
from tests.conftest import require_torch

ROOT = Path(__file__).resolve().parents[1]


def options_table(path: Path) -> dict[str, str]:
    """{option name: default as written} from the first ``| option | default | meaning |`` table.

    A row may name several options with their defaults in the same order (``a``, ``b`` | 1, 2).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("| option | default | meaning |")
    table: dict[str, str] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        defaults = [d.strip() for d in cells[1].split(",")]
        assert len(names) == len(defaults), f"{path.name}: row {cells[0]!r} names {len(names)} options, {len(defaults)} defaults"
        for name, default in zip(names, defaults):
            assert name not in table, f"{path.name}: {name} listed twice"
            table[name] = default
    return table


def written(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@pytest.mark.parametrize("doc", ["README.md", "docs/options.md"])
def test_options_table_matches_the_dataclass(doc):
    table = options_table(ROOT / doc)
    fields = {f.name: f.default for f in dataclasses.fields(HandTrackerOptions)}
    assert sorted(table) == sorted(fields), f"{doc}: missing {sorted(set(fields) - set(table))}, unknown {sorted(set(table) - set(fields))}"
    wrong = {k: (table[k], written(v)) for k, v in fields.items() if table[k] != written(v)}
    assert not wrong, f"{doc}: defaults written / in the code: {wrong}"


DOCS = ["README.md", "CHANGELOG.md", "docs/options.md", "docs/training.md", "docs/benchmarks.md",
        "docs/model_history.md", "docs/api.md", "assets/MODEL_CARD.md"]


def anchors(path: Path) -> set[str]:
    """The fragments a Markdown file answers to: GitHub's heading slugs and explicit ``<a id>``s."""
    text = path.read_text(encoding="utf-8")
    slugs = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slugs.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return slugs


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    path = ROOT / doc
    links = re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", path.read_text(encoding="utf-8"))
    assert links, f"{doc} has no relative links to check"
    missing = [t for t, _ in links if t and not (path.parent / t).exists()]
    assert not missing, f"{doc}: links to missing files {missing}"
    # a fragment must name a heading or an <a id> of its target (a moved section breaks it)
    broken = [f"{t}#{a}" for t, a in links if a and (not t or t.endswith(".md"))
              and a not in anchors(path.parent / t if t else path)]
    assert not broken, f"{doc}: links to missing anchors {broken}"


def test_anchor_check_catches_a_missing_section(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text('# Set-up (fresh machine)\n<a id="session-10"></a>\n', encoding="utf-8")
    assert anchors(doc) == {"set-up-fresh-machine", "session-10"}
    assert "session-11" not in anchors(doc)


def test_table_parser_catches_a_missing_option(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("| option | default | meaning |\n|---|---|---|\n| `max_hands` | 2 | most hands |\n\n", encoding="utf-8")
    table = options_table(doc)
    assert table == {"max_hands": "2"}
    assert sorted(table) != sorted(f.name for f in dataclasses.fields(HandTrackerOptions))


# -- every command line the docs show uses options its command has --------------------------------

#: docs whose command lines must run as written (model_history.md keeps each session's commands as
#: they were then)
COMMAND_DOCS = ["README.md", "docs/training.md", "docs/options.md", "docs/benchmarks.md", "assets/MODEL_CARD.md"]
_COMMAND = re.compile(r"^(?:python -m ([\w.]+)|(handtrack))\b(.*)$", re.S)
_SUBCOMMANDS = {"handtrack": {"webcam", "video"}, "bench": {"models", "live", "robustness", "soak", "train-step", "frame-rate"}}
_NOT_OURS = {"pytest"}


def doc_commands(text: str) -> list[tuple[str, str, str | None, list[str]]]:
    """(command, module, subcommand, options named) of every ``python -m MODULE ...`` or ``handtrack
    ...`` in a Markdown text: each line of a fenced block (an indented line continues the one
    before; `` #`` starts a comment) and each inline code span (which may wrap)."""
    spans: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = line.split(" #")[0]
            if line[:1].isspace() and spans:
                spans[-1] += " " + line.strip()
            else:
                spans.append(line)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    spans += [re.sub(r"\s+", " ", s) for s in re.findall(r"`([^`]+)`", prose)]
    found = []
    for span in spans:
        m = _COMMAND.match(span.strip())
        if not m or m.group(1) in _NOT_OURS:
            continue
        module, rest = m.group(1) or "handtrack", m.group(3)
        words = rest.split()
        sub = words[0] if words and words[0] in _SUBCOMMANDS.get(module, ()) else None
        found.append((span.strip(), module, sub, re.findall(r"(?<![\w-])(--[a-z][\w-]*|-[a-z])\b", rest)))
    return found


class _Parser(Exception):
    def __init__(self, parser):
        self.parser = parser


def command_parser(module: str, sub: str | None, monkeypatch):
    """The argparse parser of ``python -m module [sub]`` (``handtrack [sub]``): its ``main`` is run
    until it parses its command line, where the parser is taken instead."""
    import argparse
    import importlib
    if module == "handtrack":
        from tracker.cli import make_parser
        parser = make_parser()
        if sub:
            parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[sub]
    else:
        def grab(self, *args, **kwargs):
            raise _Parser(self)
        mod = importlib.import_module(module)
        if not hasattr(mod, "main"):
            mod = importlib.import_module(module + ".__main__")
        with monkeypatch.context() as m:
            m.setattr(argparse.ArgumentParser, "parse_known_args", grab)
            try:
                mod.main([sub] if sub else [])
            except _Parser as got:
                parser = got.parser
            else:
                raise AssertionError(f"python -m {module} {sub or ''}: main() parsed no command line")
    return parser


def command_options(module: str, sub: str | None, monkeypatch) -> set[str]:
    """The option strings of ``python -m module [sub]`` (``handtrack [sub]``)."""
    parser = command_parser(module, sub, monkeypatch)
    return {s for a in parser._actions for s in a.option_strings}


@pytest.mark.parametrize("doc", COMMAND_DOCS)
def test_doc_commands_name_existing_options(doc, monkeypatch):
    require_torch()      # the training and export modules' main() need the [train] extra
    commands = doc_commands((ROOT / doc).read_text(encoding="utf-8"))
    assert commands, f"{doc}: no command lines found"
    cache: dict = {}
    wrong = []
    for command, module, sub, flags in commands:
        if (module, sub) not in cache:
            cache[module, sub] = command_options(module, sub, monkeypatch)
        unknown = [f for f in flags if f not in cache[module, sub]]
        if unknown:
            wrong.append(f"{command[:100]!r}: {unknown}")
    assert not wrong, f"{doc}: options its command does not have:\n" + "\n".join(wrong)


def test_usage_lines_name_the_command_a_user_types(monkeypatch):
    # argparse's default prog is the file name ("pack.py"), which no one can run: usage and error
    # lines must show the command as the docs write it
    require_torch()
    commands = {(module, sub) for doc in COMMAND_DOCS
                for _, module, sub, _ in doc_commands((ROOT / doc).read_text(encoding="utf-8"))}
    assert ("train.pack", None) in commands and ("bench", "models") in commands
    wrong = []
    for module, sub in sorted(commands, key=str):
        typed = " ".join(w for w in ("handtrack" if module == "handtrack" else f"python -m {module}", sub) if w)
        prog = command_parser(module, sub, monkeypatch).prog
        if prog != typed:
            wrong.append(f"{typed!r}: usage says {prog!r}")
    assert not wrong, "\n".join(wrong)


def test_command_check_catches_a_misspelt_option(monkeypatch):
    text = ("Run `handtrack video\n  clip.mp4 --jsn -` or\n\n```bash\npython -m train.evaluate landmarks \\\n"
            "  --limt 20   # comment --not-an-option\n```\n")
    (cmd1, m1, s1, f1), (cmd2, m2, s2, f2) = sorted(doc_commands(text), key=lambda c: c[1])
    assert (m1, s1, f1) == ("handtrack", "video", ["--jsn"])
    assert (m2, s2, f2) == ("train.evaluate", None, ["--limt"])
    assert "--jsn" not in command_options("handtrack", "video", monkeypatch)
    assert "--json" in command_options("handtrack", "video", monkeypatch)


def _make_api():
    spec = importlib.util.spec_from_file_location("make_api", ROOT / "docs" / "make_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_current():
    """docs/api.md is what docs/make_api.py writes from the docstrings: a changed signature or
    docstring fails here until ``python docs/make_api.py`` is run again."""
    written = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert written == _make_api().build(), "docs/api.md is not current: run python docs/make_api.py"


@pytest.mark.parametrize("doc, expected", [
    ("Text.\n\nArgs:\n    a: one\n        more.\n    b, c: two\n\nRaises:\n    ValueError: bad ``a``.",
     "Text.\n\n*Args:*\n\n- a: one more.\n- b, c: two\n\n*Raises:*\n\n- ValueError: bad `a`."),
    ("Returns:\n    ``{\"a\": x}``. Each one:\n    its :class:`Hand`.", "*Returns:*\n\n- `{\"a\": x}`. Each one: its `Hand`."),
    ("Shell:\n\n    python -m x --y\n\nend", "Shell:\n\n    python -m x --y\n\nend"),
    ("Attributes:\n    a: one,\n        and two, less: more.\n    b: x", "*Attributes:*\n\n- a: one, and two, less: more.\n- b: x"),
])
def test_api_reference_lays_out_docstring_sections(doc, expected):
    assert _make_api().render_doc(doc) == expected


def test_api_reference_covers_the_package_exports():
    import tracker
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [n for n in tracker.__all__ if n != "__version__" and f"### `{n}" not in text]
    assert not missing, f"docs/api.md does not document {missing}"
