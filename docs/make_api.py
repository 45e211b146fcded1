"""Write docs/api.md, the runtime's API reference, from the docstrings of ``tracker``.

    python docs/make_api.py            # rewrites docs/api.md
    python docs/make_api.py --check    # exit 1 when docs/api.md differs from the docstrings

tests/test_docs.py runs the check, so a changed signature or docstring fails the tests until the
reference is written again. The docstrings stay the source: this only lays them out (signatures,
Google-style ``Args:`` / ``Returns:`` / ``Raises:`` / ``Attributes:`` sections as lists).
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"

#: (module, what it is for, names): the public surface an application uses, in reading order.
#: None: every public class and function the module defines.
SECTIONS: list[tuple[str, str, list[str] | None]] = [
    ("tracker", "the tracker, its options and results, the keypoint layout",
     ["HandTracker", "HandTrackerOptions", "HandTrackerResult", "Hand", "HandKeypoint",
      "KEYPOINT_NAMES", "CONNECTIONS"]),
    ("tracker.draw", "drawing results on frames", None),
    ("tracker.io", "reading track files back", None),
    ("tracker.video", "frame sources, sinks and live cameras (used by the command line)", None),
    ("tracker.keypoints", "keypoint helpers", ["from_21", "palm_size"]),
    ("tracker.landmarks", "the landmark stage alone (a crop in, 17 keypoints out)", ["LandmarkModel", "LandmarkResult"]),
    ("tracker.detector", "the detector stage alone (a frame in, hand boxes out)", ["HandDetector", "Detection"]),
    ("tracker.backend", "onnxruntime sessions and model files", ["providers_for", "create_session", "read_metadata",
                                                              "default_model_path"]),
    ("tracker.smoothing", "keypoint filters", ["make_filter", "KalmanKeypointFilter", "NoFilter"]),
    ("tracker.metrics", "accuracy figures as ../shared/keypoints.md defines them", None),
]

_SECTION = re.compile(r"^(Args|Arguments|Returns|Raises|Attributes|Yields):\s*$")
#: a section's entry: ``name: text`` (names may be listed: ``a, b: text``; Raises: ``ValueError: ...``)
_ENTRY = re.compile(r"^ {0,4}[\w*., ]+:(\s|$)")


def _md(text: str) -> str:
    """reST inline markup as Markdown: ``x`` -> `x`, :class:`X` -> `X`."""
    text = re.sub(r":(?:class|meth|func|attr|mod|data|exc):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_doc(doc: str) -> str:
    """A Google-style docstring as Markdown: prose paragraphs as they are, each section's entries
    (``name: text``, continued on deeper-indented lines) as one list item each."""
    out: list[str] = []
    section: str | None = None
    indent = 0                 # the section's first entry's indent: a deeper line continues an entry
    for line in inspect.cleandoc(doc).splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            out += ["", f"*{section}:*", ""]
            continue
        if section is not None:
            depth = len(line) - len(line.lstrip())
            if not line.strip():
                section = None
                out.append("")
            elif out[-1] and (section in ("Returns", "Yields") or depth > indent or not _ENTRY.match(line)):
                out[-1] += f" {line.strip()}"     # one text, or the entry above continued
            else:
                if not out[-1]:                   # the section's first entry
                    indent = depth
                out.append(f"- {line.strip()}")
            continue
        out.append(line)     # prose; an indented line after a blank one (a shell line) is a code block
    return _md(re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip())


def _annotation(a) -> str:
    if isinstance(a, str):                     # from __future__ import annotations: the source text
        return a.strip("'\"")
    return inspect.formatannotation(a)


def _default(v) -> str:
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__                      # time.perf_counter, not <built-in function ...>
    if type(v).__name__ == "ndarray":
        return f"array([{v.flat[0]:g}, ..., {v.flat[-1]:g}])"
    return repr(v)


def _signature(name: str, obj) -> str:
    """``name(arg: type = default, ...) -> type`` as the source writes the annotations."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    parts, star_done = [], False
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
        if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD, p.VAR_POSITIONAL):
            star_done = True
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {_default(p.default)}" if p.annotation is not p.empty else f"={_default(p.default)}"
        parts.append(text)
    ret = "" if sig.return_annotation is sig.empty else f" -> {_annotation(sig.return_annotation)}"
    return f"{name}({', '.join(parts)}){ret}"


def _public_methods(cls) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out.append((name, member))
        elif inspect.isfunction(member) or isinstance(member, (staticmethod, classmethod)):
            out.append((name, getattr(cls, name)))
    return out


def _names(module, wanted: list[str] | None) -> list[str]:
    if wanted is not None:
        return wanted
    return [n for n, o in vars(module).items()
            if not n.startswith("_") and (inspect.isclass(o) or inspect.isfunction(o))
            and getattr(o, "__module__", None) == module.__name__]


def render_object(qual: str, obj) -> list[str]:
    lines: list[str] = []
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        lines += [f"### `{qual}`", "", render_doc(inspect.getdoc(obj) or ""), "",
                  "Members: " + ", ".join(f"`{m.name}` = {m.value}" for m in obj), ""]
        return lines
    if inspect.isclass(obj) or inspect.isfunction(obj):
        own = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and (own or "").startswith(obj.__name__ + "("):
            own = None                           # the generated "Name(field, ...)" is no documentation
        lines += [f"### `{_signature(qual, obj)}`", "", render_doc(own or "(no docstring)"), ""]
        if inspect.isclass(obj):
            for name, member in _public_methods(obj):
                if isinstance(member, property):
                    head, doc = f"`{qual}.{name}` (property)", member.__doc__
                else:
                    head, doc = f"`{_signature(f'{qual}.{name}', member)}`", inspect.getdoc(member)
                lines += [f"#### {head}", "", render_doc(doc or "(no docstring)"), ""]
        return lines
    # a constant
    if isinstance(obj, list) and obj and all(isinstance(t, tuple) and all(isinstance(k, enum.Enum) for k in t)
                                             for t in obj):
        pairs = ", ".join("(" + ", ".join(k.name for k in t) + ")" for t in obj)
        return [f"### `{qual}`", "", f"{len(obj)} pairs of `HandKeypoint`: {pairs}", ""]
    value = repr(obj)
    if len(value) > 300:
        value = value[:300] + " ..."
    return [f"### `{qual}`", "", f"`{value}`", ""]


def build() -> str:
    if str(ROOT) not in sys.path:              # run as a script from anywhere: import this clone's tracker
        sys.path.insert(0, str(ROOT))
    lines = ["# API reference (runtime)", "",
             "Generated by `python docs/make_api.py` from the docstrings of `tracker/` (the package that",
             "needs no torch); edit the docstrings, then run it again (`tests/test_docs.py` checks that",
             "this file is current). The README's [Python API](../README.md#python-api) section shows how",
             "the pieces fit; [options.md](options.md) the measurements behind each option.", "",
             "Units: keypoints and boxes are pixels of the frame passed in, x right, y down, pixel",
             "centres on integers (as OpenCV); times are milliseconds unless a name says `_s`.", "",
             "Contents: " + " · ".join(f"[{m}](#{m.replace('.', '')})" for m, _, _ in SECTIONS), ""]
    for modname, purpose, wanted in SECTIONS:
        module = importlib.import_module(modname)
        lines += [f"## {modname}", "", f"{purpose[0].upper()}{purpose[1:]}.", ""]
        for name in _names(module, wanted):
            lines += render_object(f"{modname}.{name}" if modname != "tracker" else name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/api.md is not current")
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is not current: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
