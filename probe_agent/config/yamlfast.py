"""YAML read straight into plain data, without positions: the fast path of loading a configuration.

``yamlsource.load_yaml`` composes a node tree and walks it, recording a mark for every key and value, so that any
problem can be reported at its ``file:line:col``. That costs about 3 KB per endpoint and most of the load time of a
big config (50,000 endpoints: a 4.9 MB file, a 200 MB node tree). Most configs are valid, and a valid config needs
no marks: ``plain_yaml`` builds the same dicts, lists and scalars from libyaml's parser events as they stream by,
keeping no node and no mark. The loader validates that data, and only when something is wrong does it read the
files again with ``load_yaml`` to say where (``loader.load_config``).

``plain_yaml`` gives up (returns ``NOT_PLAIN``) on anything the marked path has a rule or a message for: a syntax error,
an alias, an explicit tag, a merge key (``<<``), a duplicate key, a key that is not a plain value, nesting deeper
than ``MAX_DEPTH``, more than one document, an empty file, or a file over ``MAX_BYTES``; the caller then uses
``load_yaml``, which refuses or accepts them as it always has. What it returns is what ``load_yaml`` returns for the
same text (tests/config/test_fast_path.py holds it to that), with equal strings shared rather than repeated.
"""

from __future__ import annotations

from typing import Any

import yaml

from probe_agent.config.yamlsource import _LOADER, MAX_BYTES, MAX_DEPTH

_PLAIN = "tag:yaml.org,2002:"
_STR = _PLAIN + "str"
_KEPT_AS_WRITTEN = {_PLAIN + "timestamp", _PLAIN + "binary"}  # as load_yaml: the field's own parser reads them
_CONSTRUCTED = {_PLAIN + t for t in ("int", "float", "bool", "null")}

# A plain scalar can only resolve to something other than a string if its first character has an implicit
# resolver (digits, signs, '.', 'y'/'n'/'t'/'f'/'o', '~', '<', '='...): the rest skip the resolver's call.
_RESOLVER = yaml.SafeLoader("")
_FIRST_CHARS = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k is not None)
_EXACT = not _RESOLVER.yaml_path_resolvers and None not in _RESOLVER.yaml_implicit_resolvers


class _Unusual(Exception):
    """Something the marked path has a rule or a message for: leave the file to it."""


def plain_yaml(text: str) -> Any:
    """The one document in ``text`` as plain data, or ``NOT_PLAIN`` when ``load_yaml`` must read it (see above)."""
    if len(text) > MAX_BYTES or not _EXACT:
        return NOT_PLAIN
    loader = _LOADER(text)
    try:
        return _build(loader)
    except (yaml.YAMLError, _Unusual):
        return NOT_PLAIN
    finally:
        loader.dispose()


NOT_PLAIN: Any = object()  # plain_yaml's answer when the marked path must read the text


def _build(loader: Any) -> Any:
    """Consume one document's events into plain data, with an explicit stack (no recursion, no node tree)."""
    get = loader.get_event
    if type(get()) is not yaml.StreamStartEvent or type(get()) is not yaml.DocumentStartEvent:
        raise _Unusual  # (an empty stream has no document: load_yaml says what that means)
    resolve: Any = _RESOLVER.resolve  # (PyYAML is untyped)
    construct = _RESOLVER.yaml_constructors
    shared: dict[str, str] = {}  # one str object per distinct text (keys, tags, repeated values)
    constructed: dict[tuple[str, str], Any] = {}  # (tag, text) -> int/float/bool/None, built once
    stack: list[Any] = []  # the open collections, outermost first
    pending: list[Any] = []  # per open mapping, the key waiting for its value (_KEY: none yet)
    while True:
        event = get()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            if event.tag is not None or len(stack) > MAX_DEPTH:
                raise _Unusual
            text = event.value
            text = shared.setdefault(text, text)
            if stack and pending[-1] is _KEY:  # a key: kept as written, whatever it would resolve to
                top = stack[-1]
                if text in top or (text == "<<" and event.implicit[0]):
                    raise _Unusual  # a duplicate key, a merge key
                pending[-1] = text
                continue
            value: Any = text
            if event.implicit[0] and (not text or text[0] in _FIRST_CHARS):
                tag = resolve(yaml.ScalarNode, text, event.implicit)
                if tag in _CONSTRUCTED:
                    memo = (tag, text)
                    if memo not in constructed:
                        constructed[memo] = construct[tag](_RESOLVER, yaml.ScalarNode(tag, text))
                    value = constructed[memo]
                elif tag != _STR and tag not in _KEPT_AS_WRITTEN:
                    raise _Unusual  # e.g. the merge or value tag as a value: load_yaml words the refusal
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.tag is not None or len(stack) > MAX_DEPTH or (stack and pending[-1] is _KEY):
                raise _Unusual  # a tag, too deep, or a collection as a key
            stack.append({} if kind is yaml.MappingStartEvent else [])
            pending.append(_KEY if kind is yaml.MappingStartEvent else None)
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            value = stack.pop()
            pending.pop()
        else:
            raise _Unusual  # an alias (load_yaml counts and bounds their expansions)
        if not stack:
            if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
                raise _Unusual  # a second document
            return value
        top = stack[-1]
        if pending[-1] is None:
            top.append(value)
        else:
            top[pending[-1]] = value
            pending[-1] = _KEY


_KEY: Any = object()  # pending's marker: the open mapping waits for a key
