"""The ``slas`` section before and after validation: presets (``use:``) merged in, references checked.

Presets are YAML files of SLA fields in ``probe_agent/contracts/`` (installed with the package), or a path relative
to the config file. The SLA's own keys win; mappings merge key by key, lists are
replaced whole.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from probe_agent.config.yamlsource import Path_, Positions, Problem, dotted, load_yaml

PRESET_DIR = Path(__file__).resolve().parent.parent / "contracts"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def expand_presets(doc: dict[str, Any], positions: Positions, problems: list[Problem], base_dir: Path) -> None:
    """Replace each SLA that says ``use: NAME`` by the preset with the SLA's own keys merged over it (in place)."""
    slas = doc.get("slas")
    if not isinstance(slas, list):
        return
    for i, sla in enumerate(slas):
        if not isinstance(sla, dict) or not isinstance(sla.get("use"), str):
            continue
        name = sla["use"]
        path = (base_dir / name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
        where = positions.find(("slas", i, "use"))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            problems.append(
                Problem(
                    where,
                    dotted(("slas", i, "use")),
                    f"no contract preset '{name}'",
                    f"presets: {', '.join(preset_names())}; or a path to a .yaml file",
                )
            )
            continue
        preset, _, errors = load_yaml(text, str(path))
        problems.extend(errors)
        if not isinstance(preset, dict):
            continue
        slas[i] = _merge(preset, sla)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def check_sla_refs(doc: dict[str, Any], positions: Positions) -> list[Problem]:
    """Unique SLA ids; every service and endpoint an SLA names exists."""
    problems: list[Problem] = []
    endpoints = {e.get("id") for e in doc.get("endpoints") or [] if isinstance(e, dict)}
    services = {s.get("id") for s in doc.get("services") or [] if isinstance(s, dict)}
    seen: set[str] = set()
    for i, sla in enumerate(doc.get("slas") or []):
        if not isinstance(sla, dict):
            continue
        if isinstance(sla.get("id"), str):
            if sla["id"] in seen:
                problems.append(
                    Problem(
                        positions.find(("slas", i, "id")), dotted(("slas", i, "id")), f"duplicate SLA id '{sla['id']}'"
                    )
                )
            seen.add(sla["id"])
        for key, known in (("services", services), ("endpoints", endpoints)):
            refs = sla.get(key)
            for j, ref in enumerate(refs if isinstance(refs, list) else []):
                if isinstance(ref, str) and ref not in known:
                    path: Path_ = ("slas", i, key, j)
                    problems.append(Problem(positions.find(path), dotted(path), f"unknown {key[:-1]} '{ref}'"))
    return problems
