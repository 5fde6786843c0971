"""Finding, reading, merging and validating the configuration.

``load_config`` returns a frozen ``Config`` or raises ``ConfigError`` listing every problem at once, each as
``file:line:col: key.path: message`` with a hint where one helps. Nothing is half-loaded.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from probe_agent.config.api_schema import check_api
from probe_agent.config.compact import collector_paused
from probe_agent.config.dns_cache import check_dns_cache
from probe_agent.config.document import Config
from probe_agent.config.notify_schema import check_notify_refs
from probe_agent.config.schema import inherited
from probe_agent.config.sla_checks import check_sla_refs, expand_presets
from probe_agent.config.values import format_duration_ms, parse_duration_ms
from probe_agent.config.yamlfast import NOT_PLAIN, plain_yaml
from probe_agent.config.yamlsource import MAX_BYTES, ConfigError, Mark, Path_, Positions, Problem, dotted, load_yaml
from probe_agent.redaction import redact

SEARCH_PATH = ("./probe-agent.yaml", "/etc/probe-agent/config.yaml")
ENV_VAR = "PROBE_AGENT_CONFIG"
_LIST_SECTIONS = ("controls", "endpoints", "services", "slas")
_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What a file's text must contain for any value in it to be a secret reference (``\`` for a double-quoted escape
# such as ``"\x24{TOKEN}"``): a file with none of them is not walked (0.3 s of CPU for 50,000 endpoints).
_REFERENCE_MARKS = ("$", "file:", "credential:", "\\")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus what the daemon needs around it."""

    config: Config
    path: Path
    files: tuple[Path, ...]
    raw: dict[str, Any]  # merged document with secret references unresolved: safe to store and show
    secrets: frozenset[str] = field(default=frozenset())  # resolved secret values, for log redaction
    # Where each key and value was written: empty for a config that loaded at the first read (without positions),
    # since a valid config has no problem to point at (``load_config``).
    positions: Positions = field(default_factory=Positions, compare=False, repr=False)

    @functools.cached_property
    def digest(self) -> str:
        """A stable hash of the (secret-free) merged document: the config snapshot's key. Worked out once (a big
        config's canonical JSON takes a while, and the daemon asks at start and at every reload)."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``-c`` wins, then ``$PROBE_AGENT_CONFIG``, then ``./probe-agent.yaml``, then ``/etc/probe-agent/config.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for candidate in SEARCH_PATH:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        [
            Problem(
                None,
                "",
                "no configuration file found",
                f"pass -c FILE, set ${ENV_VAR}, or create {' or '.join(SEARCH_PATH)}",
            )
        ]
    )


def load_config(path: str | os.PathLike[str] | None = None, *, env: dict[str, str] | None = None) -> LoadedConfig:
    """Read, merge includes, resolve secrets, validate. Raises ConfigError with every problem found.

    A valid config needs no positions, so it is first read without them (``yamlfast.plain_yaml``: 50,000 endpoints
    load in a fraction of the time and memory); only when that finds a problem is everything read again with
    them (``yamlsource.load_yaml``), so that every problem names its file:line:col exactly as it always has.
    The garbage collector is paused meanwhile (``compact.collector_paused``: its collections were most of the
    time), and endpoints share what they hold alike (``compact.shared_fields_sets``).
    """
    main = find_config(path)
    environ = dict(os.environ if env is None else env)
    with collector_paused():
        try:
            return _load(main, environ, marks=False)
        except _NeedsMarks:
            return _load(main, environ, marks=True)


class _NeedsMarks(Exception):
    """The read without positions found a problem: read again with them, to say where it is."""


def _load(main: Path, environ: dict[str, str], *, marks: bool) -> LoadedConfig:
    """One read of the config: with ``marks``, every key's and value's position is recorded for the problems;
    without, any problem raises ``_NeedsMarks`` instead of ``ConfigError``."""
    problems: list[Problem] = []
    positions = Positions()
    doc, files, references = _read_with_includes(main, positions, problems, marks=marks)
    if problems and not marks:
        raise _NeedsMarks
    if doc is None:
        raise ConfigError(problems)
    raw = doc  # never changed from here on: secrets are resolved into new containers, presets into a new list
    secrets: set[str] = set()
    resolved = dict(_resolve_secrets(doc, (), positions, environ, secrets, problems) if references else doc)
    if isinstance(resolved.get("slas"), list):
        resolved["slas"] = list(resolved["slas"])  # expand_presets replaces its items in place
    expand_presets(resolved, positions, problems, main.parent)
    problems.extend(check_semantics(resolved, positions))
    problems.extend(check_sla_refs(resolved, positions))
    problems.extend(check_notify_refs(resolved, raw, positions))
    problems.extend(check_api(resolved, raw, positions))
    problems.extend(check_dns_cache(resolved, positions))
    if problems and not marks:
        raise _NeedsMarks
    try:
        config = Config.model_validate(resolved)
    except ValidationError as exc:
        if not marks:
            raise _NeedsMarks from None
        reported = {p.path for p in problems}  # e.g. an unset ${VAR} already explains the empty value
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = dotted(_trim_loc(loc))
            if not any(path == r or path.startswith(r + ".") or path.startswith(r + "[") for r in reported):
                problems.append(Problem(positions.find(loc), path, _message(err), _hint(err)))
        raise ConfigError(redact_problems(problems, secrets)) from None
    del resolved
    config, moved = resolve_database(config, main, environ, positions)
    problems.extend(moved)
    if problems:
        if not marks:
            raise _NeedsMarks
        raise ConfigError(redact_problems(problems, secrets))
    return LoadedConfig(config, main, tuple(files), raw, frozenset(secrets), positions)


def database_base(main: Path, environ: dict[str, str]) -> Path:
    """What a relative ``agent.database`` is relative to: under systemd (``$STATE_DIRECTORY`` set by
    ``StateDirectory=``; the first one if it lists several) that directory, else the main config file's."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else main.resolve().parent


def resolve_database(
    config: Config, main: Path, environ: dict[str, str], positions: Positions, cwd: Path | None = None
) -> tuple[Config, list[Problem]]:
    """``config`` with ``agent.database`` made absolute (``database_base``), so running from another directory
    reads the same database. If that file is missing but one exists where earlier versions put it (relative to the
    working directory), the config is refused naming both paths, rather than starting a second, empty database
    or saying there is none."""
    written = Path(config.agent.database).expanduser()
    if written.is_absolute():
        return config, []
    resolved = database_base(main, environ) / written
    old = (cwd or Path.cwd()) / written
    problems = []
    base_name = "$STATE_DIRECTORY" if environ.get("STATE_DIRECTORY") else "the config file"
    if not resolved.exists() and old.exists() and old.resolve() != resolved.resolve():
        problems.append(
            Problem(
                positions.find(("agent", "database")),
                "agent.database",
                f"{str(written)!r} is relative to {base_name}: "
                f"{resolved}, which does not exist; a database exists at {old} (relative to the working directory, "
                "where earlier versions looked)",
                f"move {old} to {resolved}, or write the absolute path in agent.database",
            )
        )
    agent = config.agent.model_copy(update={"database": str(resolved)})
    return config.model_copy(update={"agent": agent}), problems


def redact_problems(problems: list[Problem], secrets: set[str]) -> list[Problem]:
    """``problems`` with every resolved secret value in a message or hint replaced by ``***``.

    A value that fails validation is echoed by its message (``'htp://h/?token=...' is not an http:// URL``), and a
    config error reaches stderr, the journal and a reload's log line, none of which may carry a secret. Every
    secret of this load is redacted, however short, longest first (so one secret inside another leaves no part);
    a rotated secret is this load's value, so a reload's error never shows it either.
    """
    if not any(secrets):
        return problems
    return [
        replace(p, message=redact(p.message, secrets), hint=None if p.hint is None else redact(p.hint, secrets))
        for p in problems
    ]


def _read_with_includes(
    main: Path, positions: Positions, problems: list[Problem], *, marks: bool = True
) -> tuple[Any, list[Path], bool]:
    """The merged document, the files read, and whether any of them may hold a secret reference (a value with
    ``$``, ``file:`` or ``credential:`` in it, or a backslash escape that could spell one): when none does, there
    is nothing for ``_resolve_secrets`` to find."""
    files: list[Path] = []
    seen: set[Path] = set()
    references = False

    def read(path: Path, including: Mark | None) -> tuple[Any, Positions] | None:
        real = path.resolve()
        if real in seen:
            problems.append(Problem(including, "include", f"{path} is included twice (or includes itself)"))
            return None
        seen.add(real)
        try:
            if path.stat().st_size > MAX_BYTES:
                problems.append(Problem(including, "include" if including else "", f"{path} is larger than 10 MiB"))
                return None
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            problems.append(
                Problem(
                    Mark(str(path), line, col),
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                    "save the file as UTF-8",
                )
            )
            return None
        except OSError as exc:
            problems.append(
                Problem(including, "include" if including else "", f"cannot read {path}: {exc.strerror or exc}")
            )
            return None
        files.append(path)
        nonlocal references
        references = references or any(m in text for m in _REFERENCE_MARKS)
        data, pos = (NOT_PLAIN, Positions()) if marks else (plain_yaml(text), Positions())
        if data is NOT_PLAIN:  # with marks, or what only the marked read has a rule for (an alias, a tag ...)
            data, pos, errs = load_yaml(text, str(path))
            problems.extend(errs)
        if data is None:
            return None
        if not isinstance(data, dict):
            problems.append(
                Problem(
                    Mark(str(path), 1, 1),
                    "",
                    "the file must be a mapping of sections",
                    "start with `agent:`, `endpoints:` ...",
                )
            )
            return None
        return data, pos

    first = read(main, None)
    if first is None:
        return None, files, references
    doc, pos = first
    positions.graft(pos, (), ())
    includes = doc.get("include") or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        return doc, files, references  # pydantic reports the type error at its line
    for i, pattern in enumerate(includes):
        mark = positions.find(("include", i))
        if not isinstance(pattern, str):
            continue
        full = pattern if os.path.isabs(pattern) else str(main.parent / pattern)
        matches = sorted(glob.glob(full))
        if not matches and not glob.has_magic(pattern):
            problems.append(Problem(mark, f"include[{i}]", f"{pattern}: no such file"))
        for match in matches:
            got = read(Path(match), mark)
            if got is None:
                continue
            sub, sub_pos = got
            for key, value in sub.items():
                if key not in _LIST_SECTIONS:
                    problems.append(
                        Problem(
                            sub_pos.find((key,)),
                            key,
                            f"an included file may only hold {', '.join(_LIST_SECTIONS)}",
                            "agent, defaults and include belong in the main file",
                        )
                    )
                    continue
                if not isinstance(value, list):
                    problems.append(Problem(sub_pos.find((key,)), key, "must be a list"))
                    continue
                target = doc.setdefault(key, [])
                if not isinstance(target, list):
                    continue
                positions.graft_items(sub_pos, key, len(target))
                target.extend(value)
    return doc, files, references


def _resolve_secrets(
    value: Any, path: Path_, positions: Positions, environ: dict[str, str], secrets: set[str], problems: list[Problem]
) -> Any:
    """``${VAR}`` from the environment, ``file:/path`` and ``credential:NAME`` (systemd LoadCredential=).

    A mapping or list with nothing to resolve in it is returned as it is, not copied: the resolved document shares
    it with the document as written (neither is changed afterwards), so a big config is not held twice."""
    if isinstance(value, dict):
        mapping = {k: _resolve_secrets(v, (*path, k), positions, environ, secrets, problems) for k, v in value.items()}
        return value if all(mapping[k] is v for k, v in value.items()) else mapping
    if isinstance(value, list):
        items = [_resolve_secrets(v, (*path, i), positions, environ, secrets, problems) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, str) or ("$" not in value and not value.startswith(("file:", "credential:"))):
        return value  # (the common case, answered before the pattern's search)
    original = value

    def env_sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in environ:
            problems.append(
                Problem(
                    positions.find(path),
                    dotted(path),
                    f"environment variable {name} is not set",
                    "export it before starting probe-agent (under systemd: Environment= or "
                    "EnvironmentFile=), or use file:/path or credential:NAME",
                )
            )
            return ""
        if name != "CREDENTIALS_DIRECTORY":
            secrets.add(environ[name])
        return environ[name]

    value = _ENV_RE.sub(env_sub, value)
    source: Path | None = None
    if value.startswith("file:") and not value.startswith("file://"):
        source = Path(value[5:])
    elif value.startswith("credential:"):
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            problems.append(
                Problem(
                    positions.find(path),
                    dotted(path),
                    "credential: needs $CREDENTIALS_DIRECTORY",
                    "systemd sets it for LoadCredential=; elsewhere use file:/path",
                )
            )
            return ""
        source = Path(directory) / value[len("credential:") :]
    if source is not None:
        try:
            value = source.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            problems.append(
                Problem(positions.find(path), dotted(path), f"cannot read secret file {source}: {exc.strerror or exc}")
            )
            return ""
        secrets.add(value)
    if value != original and value:
        secrets.discard("")
    return value


def _trim_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # pydantic appends union-member names ("literal['all','any']", "Quorum", "function-before[...]") to locs.
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in str(p) and not str(p)[:1].isupper()))


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch":
        # pydantic words it as the regex ("String should match pattern '^[A-Z]{3}$'"): say what the key wants
        loc = err.get("loc") or ()
        return _PATTERN_WORDS.get(str(loc[-1]) if loc else "", "not a valid id")
    return msg.removeprefix("Value error, ")


# What a key checked by a pattern wants, in words; every other pattern-checked key is an id.
_PATTERN_WORDS = {"currency": "use an ISO 4217 code such as EUR (three capital letters)"}


def _hint(err: Any) -> str | None:
    kind = err.get("type")
    loc = err.get("loc") or ()
    if kind == "extra_forbidden" and loc:
        return f"'{loc[-1]}' is not a setting here; check the spelling against README.md's config reference"
    if kind in ("bool_parsing", "bool_type"):
        return "write true or false without quotes"
    if kind == "string_pattern_mismatch" and not (loc and str(loc[-1]) in _PATTERN_WORDS):
        return "ids use letters, digits, '.', '_', ':' and '-', starting with a letter or digit"
    return None


def check_semantics(doc: dict[str, Any], positions: Positions) -> list[Problem]:
    """Checks across fields, on the plain document so they are reported together with type errors:
    unique ids, references to endpoints, timeout shorter than interval."""
    problems: list[Problem] = []
    first: dict[str, Path_] = {}
    taken = inherited(doc.get("defaults"))  # what an endpoint that leaves a setting out takes, as written
    for section in ("controls", "endpoints"):
        items = doc.get(section)
        for i, ep in enumerate(items if isinstance(items, list) else []):
            if not isinstance(ep, dict):
                continue
            ep_id = ep.get("id")
            path: Path_ = (section, i, "id")
            if isinstance(ep_id, str):
                if ep_id in first:
                    other = positions.find(first[ep_id])
                    problems.append(
                        Problem(
                            positions.find(path),
                            dotted(path),
                            f"duplicate id '{ep_id}'" + (f" (first defined at {other})" if other else ""),
                            "ids must be unique across endpoints and controls, in every included file",
                        )
                    )
                else:
                    first[ep_id] = path
            timing: dict[str, int | None] = {}
            for key in ("timeout", "interval"):
                value = ep[key] if ep.get(key) is not None else taken[key]
                try:
                    timing[key] = parse_duration_ms(value)
                except ValueError:
                    timing[key] = None  # reported by the model
            if (
                timing["timeout"] is not None
                and timing["interval"] is not None
                and timing["timeout"] >= timing["interval"]
            ):
                key = "timeout" if "timeout" in ep else "interval" if "interval" in ep else "timeout"
                where = positions.find((section, i, key)) if key in ep else positions.find(("defaults", key))
                problems.append(
                    Problem(
                        where or positions.find((section, i)),
                        dotted((section, i, key)),
                        f"timeout ({format_duration_ms(timing['timeout'])}) must be shorter than "
                        f"interval ({format_duration_ms(timing['interval'])})",
                        "a probe must finish before the next one is due",
                    )
                )
    endpoint_ids = {k for k, v in first.items() if v[0] == "endpoints"}
    seen_services: set[str] = set()
    services = doc.get("services")
    for i, svc in enumerate(services if isinstance(services, list) else []):
        if not isinstance(svc, dict):
            continue
        if isinstance(svc.get("id"), str):
            if svc["id"] in seen_services:
                problems.append(
                    Problem(
                        positions.find(("services", i, "id")),
                        dotted(("services", i, "id")),
                        f"duplicate service id '{svc['id']}'",
                    )
                )
            seen_services.add(svc["id"])
        refs = svc.get("endpoints")
        for j, ref in enumerate(refs if isinstance(refs, list) else []):
            if isinstance(ref, str) and ref not in endpoint_ids:
                hint = "controls cannot be part of a service" if ref in first else _did_you_mean(ref, endpoint_ids)
                problems.append(
                    Problem(
                        positions.find(("services", i, "endpoints", j)),
                        dotted(("services", i, "endpoints", j)),
                        f"unknown endpoint '{ref}'",
                        hint,
                    )
                )
    return problems


def _did_you_mean(name: str, known: set[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean '{close[0]}'?" if close else None
