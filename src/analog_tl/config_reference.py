"""The configuration reference (Markdown) rendered from the workflow's JSON schema.

The documentation site builds its configuration page with
:func:`render_config_reference` from ``workflow/schemas/config.schema.yaml``
(``scripts/gen_config_reference.py``), so the page always says what the
schema validates: one section per top-level key, and a table with every
nested key by dotted path, its type, default, allowed values and description.
``$ref`` (to ``#/...``), ``allOf``, ``oneOf``/``anyOf``, maps
(``additionalProperties``: the key is shown as ``<name>``) and arrays are
followed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Schema = Mapping[str, Any]
MAP_KEY = "<name>"  # the path part of a map entry (additionalProperties), e.g. tasks.<name>
_MISSING = object()
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # a "<" that Markdown could read as the start of an HTML tag
_TABLE_HEAD = "| Key | Type | Default | Allowed | Description |\n| --- | --- | --- | --- | --- |"
_BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("multipleOf", "multiple of {}"),
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("minItems", "≥ {} items"),
    ("maxItems", "≤ {} items"),
    ("minProperties", "≥ {} entries"),
    ("maxProperties", "≤ {} entries"),
)


@dataclass(frozen=True)
class ConfigKey:
    """One key of the config: its dotted path, effective schema and where its default comes from.

    ``required``: its object requires it. ``inherited`` is the value an
    ancestor's default gives this key when the ancestor is absent (``_MISSING``
    if none); ``owner`` is that ancestor's path.
    """

    path: str
    schema: dict[str, Any]
    required: bool = False
    inherited: Any = _MISSING
    owner: str = ""


def load_schema(path: str | Path) -> dict[str, Any]:
    """The schema (YAML or JSON) at ``path`` as a dict."""
    schema = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(schema, dict):
        raise ValueError(f"{path}: not a schema (a mapping)")
    return schema


def resolve_ref(root: Schema, ref: str) -> dict[str, Any]:
    """The subschema of ``root`` that a local ``$ref`` (``#/definitions/...``) points to."""
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref values (#/...) are supported, got {ref!r}")
    node: Any = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"$ref {ref!r} does not resolve (no {part!r})")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point to a schema")
    return dict(node)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; ``properties`` merge key by key (an override may only set a default)."""
    merged = {**base, **over}
    if "properties" in base and "properties" in over:
        names = list(dict.fromkeys([*base["properties"], *over["properties"]]))
        merged["properties"] = {
            n: {**base["properties"].get(n, {}), **over["properties"].get(n, {})} for n in names
        }
    return merged


def effective(root: Schema, schema: Schema, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """``schema`` with its ``$ref`` and ``allOf`` merged in (its own keywords win)."""
    merged: dict[str, Any] = {}
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            raise ValueError(f"circular $ref {ref!r}")
        merged = effective(root, resolve_ref(root, ref), (*seen, ref))
    for part in schema.get("allOf", []):
        merged = _merge(merged, effective(root, part, seen))
    own = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
    return _merge(merged, own)


def _alternatives(root: Schema, schema: Schema) -> list[dict[str, Any]]:
    """The effective alternatives of a ``oneOf``/``anyOf`` schema (none otherwise)."""
    return [effective(root, alt) for alt in schema.get("oneOf", schema.get("anyOf", []))]


def _children(root: Schema, key: ConfigKey) -> Iterator[ConfigKey]:
    """The keys directly below ``key``: properties, map entries and those of its alternatives, each path once."""
    parents = [key.schema, *_alternatives(root, key.schema)]
    own_default = key.schema.get("default", key.inherited)
    default_owner = key.path if "default" in key.schema else key.owner
    seen: set[str] = set()
    for parent in parents:
        for name, sub in parent.get("properties", {}).items():
            path = f"{key.path}.{name}"
            if path in seen:
                continue
            seen.add(path)
            has = isinstance(own_default, Mapping) and name in own_default
            yield ConfigKey(
                path, effective(root, sub), name in parent.get("required", []),
                own_default[name] if has else _MISSING, default_owner if has else "",
            )
        extra = parent.get("additionalProperties")
        path = f"{key.path}.{MAP_KEY}"
        if isinstance(extra, Mapping) and path not in seen:
            seen.add(path)
            yield ConfigKey(path, effective(root, extra))


def iter_config_keys(root: Schema, name: str, schema: Schema | None = None) -> Iterator[ConfigKey]:
    """Top-level key ``name`` of ``root`` and every key below it, depth first, in schema order."""
    sub = schema if schema is not None else root["properties"][name]
    stack = [ConfigKey(name, effective(root, sub), name in root.get("required", []))]
    while stack:
        key = stack.pop()
        yield key
        stack.extend(reversed(list(_children(root, key))))


def _code(value: Any) -> str:
    """``value`` as JSON in a code span (a double-backtick one if the JSON holds a backtick)."""
    text = json.dumps(value, ensure_ascii=False)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _grouped(text: str) -> str:
    """``text`` in parentheses when it is an alternative (``a or b``) outside any parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(" or ", i):
            return f"({text})"
    return text


def _declared_types(schema: Schema) -> list[str]:
    """The JSON types ``schema`` declares, else those its enum or keywords imply."""
    declared = schema.get("type")
    if declared is not None:
        return [declared] if isinstance(declared, str) else list(declared)
    if "enum" in schema:
        names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
        return list(dict.fromkeys(names.get(type(v), "any") for v in schema["enum"]))
    if "properties" in schema or "additionalProperties" in schema:
        return ["object"]
    return ["array"] if "items" in schema else []


def type_text(root: Schema, schema: Schema) -> str:
    """Readable type of an effective schema: ``integer or null``, ``array of number``, ``map of string``."""
    alternatives = _alternatives(root, schema)
    if alternatives:
        return " or ".join(dict.fromkeys(type_text(root, alt) for alt in alternatives))
    parts = []
    for name in _declared_types(schema) or ["any"]:
        items, extra = schema.get("items"), schema.get("additionalProperties")
        if name == "array" and isinstance(items, Mapping):
            name = f"array of {_grouped(type_text(root, effective(root, items)))}"
        elif name == "object" and isinstance(extra, Mapping) and not schema.get("properties"):
            name = f"map of {_grouped(type_text(root, effective(root, extra)))}"
        parts.append(name)
    return " or ".join(parts)


def _constraints(root: Schema, schema: Schema) -> list[str]:
    """Allowed values and bounds of an effective schema, one phrase each."""
    phrases = []
    if "const" in schema:
        phrases.append(f"exactly {_code(schema['const'])}")
    if "enum" in schema:
        phrases.append("one of " + ", ".join(_code(v) for v in schema["enum"]))
    phrases += [text.format(json.dumps(schema[word])) for word, text in _BOUNDS if word in schema]
    if "pattern" in schema:
        phrases.append(f"matches `{schema['pattern']}`")
    if schema.get("uniqueItems"):
        phrases.append("unique items")
    names = schema.get("propertyNames", {})
    if isinstance(names, Mapping) and "pattern" in names:
        phrases.append(f"names match `{names['pattern']}`")
    items = schema.get("items")
    if isinstance(items, Mapping):
        inner = _constraints(root, effective(root, items))
        phrases += [f"items: {', '.join(inner)}"] if inner else []
    return phrases + _alternative_constraints(root, schema)


def _alternative_constraints(root: Schema, schema: Schema) -> list[str]:
    """One phrase for ``oneOf``/``anyOf``: each alternative's type with its own constraints."""
    alternatives = _alternatives(root, schema)
    if not alternatives:
        return []
    texts = []
    for alt in alternatives:
        inner = _constraints(root, alt)
        if alt.get("required"):
            inner.append(f"required: {', '.join(map(str, alt['required']))}")
        texts.append(type_text(root, alt) + (f" ({', '.join(inner)})" if inner else ""))
    return [("exactly one of: " if "oneOf" in schema else "any of: ") + "; ".join(texts)]


def default_text(key: ConfigKey) -> str:
    """The default of ``key``: its own, the one an absent ancestor's default gives it, or *required*."""
    own = key.schema.get("default", _MISSING)
    text = _code(own) if own is not _MISSING else ("*required*" if key.required else "")
    if key.inherited is not _MISSING and key.inherited != own:
        where = f"{_code(key.inherited)} when `{key.owner}` is not set"
        text = f"{text}; {where}" if text else where
    return text or "–"


def _outside_code(text: str, escape: Callable[[str], str]) -> str:
    """``text`` on one line with ``escape`` applied to everything outside its code spans."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(p if p.startswith("`") else escape(p) for p in parts)


def _escape_inline(text: str) -> str:
    """Text with ``*`` and ``_`` (emphasis) and a tag-like ``<`` (HTML) shown literally."""
    return _TAG_START.sub("&lt;", text.replace("*", "\\*").replace("_", "\\_"))


def escape_text(text: str) -> str:
    """``text`` as one line of Markdown that shows it literally; code spans are kept as they are."""
    return _outside_code(text, _escape_inline)


def escape_cell(text: str) -> str:
    """``text`` for one Markdown table cell: :func:`escape_text` with ``|`` escaped outside code spans.

    A ``|`` inside a code span stays as it is: Python-Markdown's tables (MkDocs) do not split cells there.
    """
    return _outside_code(text, lambda part: _escape_inline(part).replace("|", "\\|"))


def _row(root: Schema, key: ConfigKey) -> str:
    """The table row of ``key``: generated Markdown cells, then the schema's description shown literally."""
    allowed = ", ".join(_constraints(root, key.schema)) or "–"
    cells = [f"`{key.path}`", type_text(root, key.schema), default_text(key), allowed]
    pipes = [_outside_code(c, lambda part: part.replace("|", "\\|")) for c in cells]
    return "| " + " | ".join([*pipes, escape_cell(key.schema.get("description", ""))]) + " |"


def render_section(root: Schema, name: str) -> str:
    """The section of top-level key ``name``: heading, description, summary line and a table of its nested keys."""
    top, *nested = iter_config_keys(root, name)
    summary = [f"**Type:** {type_text(root, top.schema)}", f"**Default:** {default_text(top)}"]
    allowed = _constraints(root, top.schema)
    summary += [f"**Allowed:** {', '.join(allowed)}"] if allowed else []
    blocks = [f"## `{name}`"]
    if top.schema.get("description"):
        blocks.append(escape_text(top.schema["description"]))
    blocks.append(" · ".join(summary))
    if nested:
        blocks.append("\n".join([_TABLE_HEAD, *(_row(root, key) for key in nested)]))
    return "\n\n".join(blocks)


def render_config_reference(schema: dict[str, Any], title: str = "Configuration reference", intro: str = "") -> str:
    """The Markdown page of ``schema``: title, ``intro``, the schema's description, one section per top-level key."""
    blocks = [f"# {title}"]
    if intro:
        blocks.append(intro)
    if schema.get("description"):
        blocks.append(escape_text(schema["description"]))
    blocks += [render_section(schema, name) for name in schema.get("properties", {})]
    return "\n\n".join(blocks) + "\n"
