"""ARCHITECTURE.md's package table is the layering, and this test holds the code to it.

Each row names one or more units (a top-level module such as `model.py`, or a package such as `store/`) and what
they may import: other units in backticks, then after a ``;`` the third-party libraries by import name ("stdlib"
alone: nothing else); text in parentheses is a comment. The
standard library is always allowed. A walk over every module's AST finds each import (lazy ones inside functions
too) and fails on any the table does not allow, and on any unit the table does not list.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "probe_agent"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Rule:
    units: frozenset[str]
    may_import: frozenset[str]  # units
    libraries: frozenset[str]  # third-party import names


def unit_name(text: str) -> str:
    """`store/` -> store, `model.py` -> model."""
    return text.strip().removesuffix("/").removesuffix(".py")


def read_rules(markdown: str) -> dict[str, Rule]:
    """The "## Packages" table: ``| units | holds | may import |`` rows, keyed by each unit they name."""
    section = markdown.split("## Packages", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, Rule] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        units = frozenset(unit_name(u) for u in _CODE.findall(cells[0]))
        allowed = re.sub(r"\([^)]*\)", "", cells[2])  # parentheses are comments
        units_part, _, libraries_part = allowed.partition(";")
        may = frozenset(unit_name(u) for u in _CODE.findall(units_part))
        libs = frozenset(w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", libraries_part))
        rule = Rule(units, may, libs)
        for u in units:
            assert u not in rules, f"{u} is in two rows of ARCHITECTURE.md's table"
            rules[u] = rule
    return rules


def unit_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def imports_of(source: str) -> set[str]:
    """Every absolute module an import statement in ``source`` names (``from a import b`` gives a and a.b)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "probe_agent":
                out.update(f"probe_agent.{a.name}" for a in node.names)
    return out


def violations(unit: str, imported: set[str], rules: dict[str, Rule]) -> list[str]:
    """What ``unit`` imports that its row does not allow."""
    rule = rules[unit]
    bad = []
    for name in sorted(imported):
        top, _, rest = name.partition(".")
        if top == "probe_agent":
            target = rest.split(".")[0]
            if target in ("", "__version__") or target in rule.units or target in rule.may_import:
                continue
            bad.append(f"{unit} imports probe_agent.{rest}: ARCHITECTURE.md allows {sorted(rule.may_import)}")
        elif top not in sys.stdlib_module_names and top not in rule.libraries:
            bad.append(f"{unit} imports {name}: ARCHITECTURE.md allows the libraries {sorted(rule.libraries)}")
    return bad


def units_in_package() -> set[str]:
    return {unit_of(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}


def test_every_unit_is_in_the_table() -> None:
    rules = read_rules(ARCHITECTURE.read_text())
    missing = sorted(units_in_package() - set(rules))
    assert not missing, f"add these to ARCHITECTURE.md's Packages table: {missing}"
    gone = sorted(set(rules) - units_in_package())
    assert not gone, f"ARCHITECTURE.md's table names units that no longer exist: {gone}"


def test_imports_follow_the_table() -> None:
    rules = read_rules(ARCHITECTURE.read_text())
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        found.setdefault(unit_of(path), set()).update(imports_of(path.read_text()))
    problems = [v for unit, names in sorted(found.items()) for v in violations(unit, names, rules)]
    assert not problems, "\n".join(problems)


def test_the_walk_catches_a_forbidden_import() -> None:
    """The checker itself: the core importing the store (or a library its row does not name) is refused, lazy
    imports inside a function included."""
    rules = read_rules(ARCHITECTURE.read_text())
    lazy = "def f():\n    from probe_agent.store import queries\n    import sqlite_utils\n    import fractions\n"
    assert violations("sla", imports_of(lazy), rules) == [
        f"sla imports probe_agent.store: ARCHITECTURE.md allows {sorted(rules['sla'].may_import)}",
        f"sla imports sqlite_utils: ARCHITECTURE.md allows the libraries {sorted(rules['sla'].libraries)}",
    ]
    assert violations("store", imports_of("import sqlite_utils\nfrom probe_agent.model import State\n"), rules) == []


# The views may use a template engine (the status page's Jinja2 templates, and MarkupSafe, its escaping) and nothing
# else outside the standard library.
_PURE_LIBRARIES = {"sla": set(), "model": set(), "units": set(), "render": {"jinja2", "markupsafe"}}


@pytest.mark.parametrize("unit", sorted(_PURE_LIBRARIES))
def test_pure_units_import_no_library(unit: str) -> None:
    """The core and the value modules are stdlib-only, the views stdlib plus templating (and the units their row
    names)."""
    assert read_rules(ARCHITECTURE.read_text())[unit].libraries == _PURE_LIBRARIES[unit]
