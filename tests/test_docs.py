"""The README's options tables (README and docs/options.md) against HandTrackerOptions: every
option listed once, with the default the code has, and the docs' relative links and anchors resolve."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tracker import HandTrackerOptions

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
        "docs/model_history.md", "assets/MODEL_CARD.md"]


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
