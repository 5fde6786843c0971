"""``config show``'s document: the configuration as the agent applies it.

- every default filled in (``defaults`` merged into each endpoint and control, every setting's default), durations
  spelled as the config takes them (``60s``);
- presets expanded, and each SLA built on one says which of its keys came from the preset (``preset_keys``, dotted
  for keys inside a mapping), beside the preset's ``use`` and ``source`` (where the terms come from, and their
  version);
- secrets as their references (``${SHOP_TOKEN}``), never their values: each reference is put back where it was
  written, and any resolved value left anywhere else is replaced by ``***``.

Not a config to load again (``preset_keys`` is not a setting): ``config show --raw`` prints the merged document as
written.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from probe_agent.config.loader import LoadedConfig
from probe_agent.config.notify_schema import is_secret_reference
from probe_agent.config.sla_checks import PRESET_DIR
from probe_agent.redaction import redact


def effective_document(loaded: LoadedConfig) -> dict[str, Any]:
    doc: dict[str, Any] = loaded.config.model_dump(mode="json", by_alias=True, exclude_none=True)
    _restore_references(doc, loaded.raw)
    doc = _redacted(doc, loaded.secrets)
    written = loaded.raw.get("slas")
    raw_slas: list[Any] = written if isinstance(written, list) else []
    for sla, raw in zip(doc.get("slas") or [], raw_slas, strict=False):
        if isinstance(raw, dict) and isinstance(raw.get("use"), str):
            sla["preset_keys"] = _preset_keys(raw["use"], raw, loaded)
    return doc


def _restore_references(doc: Any, raw: Any) -> None:
    """Put each secret reference of ``raw`` (as written) back at the same place in ``doc`` (in place)."""
    if isinstance(raw, dict) and isinstance(doc, dict):
        for key, value in raw.items():
            if key not in doc:
                continue
            if isinstance(value, str) and is_secret_reference(value):
                doc[key] = value
            else:
                _restore_references(doc[key], value)
    elif isinstance(raw, list) and isinstance(doc, list):
        for i, value in enumerate(raw[: len(doc)]):
            if isinstance(value, str) and is_secret_reference(value):
                doc[i] = value
            else:
                _restore_references(doc[i], value)


def _redacted(doc: Any, secrets: frozenset[str]) -> Any:
    if isinstance(doc, dict):
        return {k: _redacted(v, secrets) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_redacted(v, secrets) for v in doc]
    if isinstance(doc, str) and not is_secret_reference(doc):
        return redact(doc, secrets)
    return doc


def _preset_keys(name: str, raw_sla: dict[str, Any], loaded: LoadedConfig) -> list[str]:
    """The (dotted) keys the preset gave that the SLA as written does not set."""
    path = (loaded.path.parent / name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    try:
        preset = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):  # it loaded a moment ago; a file changed since shows no keys, not an error
        return []
    return sorted(_given(preset, copy.deepcopy(raw_sla)) if isinstance(preset, dict) else [])


def _given(preset: dict[str, Any], own: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in preset.items():
        if key not in own:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(own[key], dict):
            out += _given(value, own[key], f"{prefix}{key}.")
    return out
