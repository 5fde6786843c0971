"""Reading YAML into plain data while remembering where every key and value came from.

PyYAML's safe composer builds a node tree; we turn it into dicts/lists/scalars ourselves so that we can (1) record
``path -> file:line:col`` for error messages, (2) refuse every tag that is not plain YAML (``!!python/...``,
custom tags), (3) refuse duplicate keys, which plain YAML silently lets the last one win, (4) keep
timestamps as strings (YAML 1.1 would turn an unquoted ISO time into a naive datetime), and (5) bound what a
document may cost: at most ``MAX_ALIASES`` alias expansions (a "billion laughs" include took 2.9 GB on reload) and
``MAX_DEPTH`` levels of nesting (deeper input overflowed the parser's recursion). ``MAX_BYTES`` bounds a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

_PLAIN = "tag:yaml.org,2002:"
MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIASES = 100


class _TooCostly(Exception):
    """Building stopped: the document is over one of the limits (the problem is already recorded)."""


_SCALAR_TAGS = {_PLAIN + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary")}


@dataclass(frozen=True)
class Mark:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Problem:
    """One thing wrong with the configuration, printed as ``file:line:col: key.path: message``."""

    mark: Mark | None
    path: str
    message: str
    hint: str | None = None

    def to_json(self) -> dict[str, object]:
        """``config validate --format json``'s form: file, line and column (None when unknown), key path, message."""
        return {
            "file": self.mark.file if self.mark else None,
            "line": self.mark.line if self.mark else None,
            "column": self.mark.col if self.mark else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        key = f"{self.path}: " if self.path else ""
        text = f"{where}{key}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every error found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.mark.file, p.mark.line, p.mark.col) if p.mark else ("", 0, 0))
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Positions:
    """``path -> Mark`` for keys (where the key is written) and values (where the value starts)."""

    def __init__(self) -> None:
        self.keys: dict[Path_, Mark] = {}
        self.values: dict[Path_, Mark] = {}

    def find(self, path: Path_) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
            if not p:
                return None
            p = p[:-1]

    def graft(self, other: Positions, old_prefix: Path_, new_prefix: Path_) -> None:
        """Copy marks under ``old_prefix`` in ``other`` to ``new_prefix`` here (for merged include files)."""
        n = len(old_prefix)
        for src, dst in ((other.keys, self.keys), (other.values, self.values)):
            for path, mark in src.items():
                if path[:n] == old_prefix:
                    dst[new_prefix + path[n:]] = mark

    def graft_items(self, other: Positions, section: str, offset: int) -> None:
        """Copy the marks of ``other``'s ``section[j]...`` here as ``section[offset + j]...``: an included file's
        list items appended to the main file's list. (One pass over ``other``, not one per item.)"""
        for src, dst in ((other.keys, self.keys), (other.values, self.values)):
            for path, mark in src.items():
                if len(path) > 1 and path[0] == section and isinstance(path[1], int):
                    dst[(section, offset + path[1], *path[2:])] = mark


# libyaml's composer (C) when PyYAML was built with it: the same nodes and marks, several times faster on a large
# config (50,000 endpoints: the pure-Python parse was most of an 18 s validate).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(node: yaml.Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse one YAML document. Returns (data, positions, problems); data is None on a syntax error."""
    positions = Positions()
    problems: list[Problem] = []
    if len(text) > MAX_BYTES:
        problems.append(Problem(Mark(file, 1, 1), "", f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB"))
        return None, positions, problems
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except RecursionError:
        problems.append(
            Problem(Mark(file, 1, 1), "", f"nested more than {MAX_DEPTH} levels deep", "flatten the structure")
        )
        return None, positions, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own limit, met before ours (MAX_DEPTH)
            problems.append(Problem(where, "", f"nested more than {MAX_DEPTH} levels deep", "flatten the structure"))
            return None, positions, problems
        problems.append(Problem(where, "", f"YAML syntax error: {exc.problem or exc}", _syntax_hint(exc)))
        return None, positions, problems
    except yaml.YAMLError as exc:
        problems.append(Problem(Mark(file, 1, 1), "", f"YAML error: {exc}"))
        return None, positions, problems
    if node is None:
        return {}, positions, problems
    constructor = yaml.SafeLoader("")
    built: set[int] = set()  # collection nodes already built once: meeting one again is an alias expansion
    aliases = 0

    def build(n: yaml.Node, path: Path_) -> Any:
        nonlocal aliases
        if len(path) > MAX_DEPTH:
            problems.append(
                Problem(_mark(n, file), dotted(path[:3]) + "...", f"nested more than {MAX_DEPTH} levels deep")
            )
            raise _TooCostly
        if isinstance(n, yaml.CollectionNode):
            if id(n) in built:
                aliases += 1
                if aliases > MAX_ALIASES:
                    problems.append(
                        Problem(
                            _mark(n, file),
                            dotted(path),
                            f"more than {MAX_ALIASES} alias expansions (*name)",
                            "write the values out, or use `defaults:` for shared settings",
                        )
                    )
                    raise _TooCostly
            built.add(id(n))
        positions.values.setdefault(path, _mark(n, file))
        if isinstance(n, yaml.MappingNode):
            if n.tag != _PLAIN + "map":
                problems.append(_bad_tag(n, file, path))
            out: dict[str, Any] = {}
            for key_node, value_node in n.value:
                if key_node.tag == _PLAIN + "merge":
                    problems.append(
                        Problem(
                            _mark(key_node, file),
                            dotted(path),
                            "YAML merge keys (<<) are not supported",
                            "write the keys out, or use `defaults:` for shared settings",
                        )
                    )
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(Problem(_mark(key_node, file), dotted(path), "a key must be a plain value"))
                    continue
                key = str(key_node.value)
                child = (*path, key)
                if key in out:
                    problems.append(
                        Problem(
                            _mark(key_node, file),
                            dotted(child),
                            f"duplicate key '{key}' (first at line {positions.keys[child].line})",
                            "YAML keeps only the last one; remove one of them",
                        )
                    )
                    continue
                positions.keys[child] = _mark(key_node, file)
                out[key] = build(value_node, child)
            return out
        if isinstance(n, yaml.SequenceNode):
            if n.tag != _PLAIN + "seq":
                problems.append(_bad_tag(n, file, path))
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        assert isinstance(n, yaml.ScalarNode)
        if n.tag not in _SCALAR_TAGS:
            problems.append(_bad_tag(n, file, path))
            return n.value
        if n.tag in (_PLAIN + "timestamp", _PLAIN + "binary"):
            return n.value  # keep as written; the field's own parser reads it
        return constructor.construct_object(n, deep=True)

    try:
        return build(node, ()), positions, problems
    except _TooCostly:
        return None, positions, problems


def _bad_tag(node: yaml.Node, file: str, path: Path_) -> Problem:
    return Problem(
        _mark(node, file),
        dotted(path),
        f"the YAML tag {node.tag!r} is not allowed",
        "probe-agent reads plain YAML only (no !!python or custom tags); quote the value if it is text",
    )


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str | None:
    problem = str(exc.problem or "")
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted"
    if "found character '\\t'" in problem or "tab" in problem:
        return "YAML indents with spaces, not tabs"
    if "expected <block end>" in problem:
        return "check the indentation of this line against the one above"
    return None
