"""The configuration reference: every schema key is described, and the page generated from the schema shows each one.

The keys are collected here by a walk of the schema of their own (``schema_keys``), not by the renderer's, so
a renderer that skips keys (say those behind a ``$ref``) fails ``test_page_names_every_key_of_the_schema``.
"""

from __future__ import annotations

import re
import runpy
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from analog_tl.config_reference import load_schema, render_config_reference
from analog_tl.vocabulary import CONFIG_SCHEMA

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / CONFIG_SCHEMA
ENTRY = "<name>"  # how the reference names a map entry (additionalProperties): tasks.<name>


def merged(root: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with what its ``$ref`` and ``allOf`` contribute; its own keywords and properties win."""
    parts = []
    if "$ref" in node:
        target: Any = root
        for name in node["$ref"].removeprefix("#/").split("/"):
            target = target[name]
        parts.append(merged(root, target))
    parts += [merged(root, part) for part in node.get("allOf", [])]
    parts.append({k: v for k, v in node.items() if k not in ("$ref", "allOf")})
    result: dict[str, Any] = {}
    for part in parts:
        properties = {**result.get("properties", {})}
        for name, sub in part.get("properties", {}).items():
            properties[name] = {**properties.get(name, {}), **sub}
        result = {**result, **part, **({"properties": properties} if properties else {})}
    return result


def schema_keys(root: Mapping[str, Any], node: Mapping[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(dotted path, merged schema)`` of ``node`` and of every key below it, at every depth."""
    node = merged(root, node)
    yield path, node
    alternatives = [merged(root, alt) for alt in node.get("oneOf", []) + node.get("anyOf", [])]
    for holder in [node, *alternatives]:
        for name, sub in holder.get("properties", {}).items():
            yield from schema_keys(root, sub, f"{path}.{name}")
        if isinstance(holder.get("additionalProperties"), Mapping):
            yield from schema_keys(root, holder["additionalProperties"], f"{path}.{ENTRY}")


def config_keys(root: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every key of a config: top-level keys and everything below them (an alternative's key counted once)."""
    return dict(kv for name, sub in root.get("properties", {}).items() for kv in schema_keys(root, sub, name))


def undocumented(root: Mapping[str, Any]) -> list[str]:
    """Paths of the keys and definitions (``definitions.<name>...``) that have no non-empty description."""
    keys = dict(config_keys(root))
    for name, sub in root.get("definitions", {}).items():
        keys.update(schema_keys(root, sub, f"definitions.{name}"))
    return [path for path, node in keys.items() if not str(node.get("description", "")).strip()]


def row(page: str, path: str) -> list[str]:
    """The cells of ``path``'s table row (split at unescaped pipes)."""
    line = next(line for line in page.splitlines() if line.startswith(f"| `{path}` |"))
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema(SCHEMA_PATH)


def test_every_key_of_the_schema_has_a_description(schema):
    keys = config_keys(schema)
    # the walk itself reaches keys behind $ref, allOf, oneOf and maps, or this test would prove little
    for path in ("pretrain.augment.crop_padding", "tasks.<name>.n_classes", "compare.grids.<name>.<name>",
                 "analog.device.fields.<name>", "data.synthetic.seed"):
        assert path in keys, f"the walk missed {path}"
    assert len(keys) > 100
    missing = undocumented(schema)
    assert not missing, f"schema keys without a description: {missing}"


def test_page_names_every_key_of_the_schema(schema):
    page = render_config_reference(schema)
    missing = [path for path in config_keys(schema) if f"`{path}`" not in page]
    assert not missing, f"the configuration reference does not name: {missing}"
    for name in schema["properties"]:
        assert f"\n## `{name}`\n" in page
    assert render_config_reference(schema) == page, "the page must be deterministic"


def test_page_shows_the_real_defaults(schema):
    page = render_config_reference(schema)
    assert row(page, "pretrain.epochs")[2] == "`4`", "a default set next to an allOf must win"
    assert row(page, "analog.device.fields")[2] == '`{"w_max": 1.0, "w_min": -1.0}`'
    assert row(page, "pretrain.augment.crop_padding")[2] == "`0`; `4` when `pretrain.augment` is not set"
    assert "**Default:** *required*" in page.split("## `tasks`")[1].split("## ")[0]


SMALL = {
    "description": "A toy config.",
    "type": "object",
    "required": ["alpha"],
    "definitions": {
        "inner": {
            "type": "object",
            "description": "an inner block",
            "properties": {
                "depth": {"type": "integer", "minimum": 1, "maximum": 8, "default": 3, "description": "how deep"},
            },
        },
    },
    "properties": {
        "alpha": {
            "type": "object",
            "description": "The first section | with a pipe.",
            "properties": {
                "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.5,
                         "description": "a rate: low | high"},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow", "description": "speed"},
                "limit": {"type": ["integer", "null"], "minimum": 2, "default": None, "description": "cap; null: none"},
                "nested": {"$ref": "#/definitions/inner", "default": {}, "description": "an inner block here"},
                "names": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                          "uniqueItems": True, "default": ["x"], "description": "some names"},
                "extras": {"type": "object", "description": "free fields",
                           "additionalProperties": {"type": "number", "description": "one field's value"}},
                "either": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "object", "required": ["k"],
                         "properties": {"k": {"type": "integer", "description": "k"}}},
                    ],
                    "description": "a string or a mapping",
                },
            },
        },
        "beta": {"type": "integer", "minimum": 0, "default": 7, "description": "a scalar key"},
    },
}


def test_renderer_shows_types_defaults_bounds_and_descriptions():
    page = render_config_reference(SMALL)
    assert page.startswith("# Configuration reference\n\nA toy config.\n\n## `alpha`\n")
    assert "**Type:** object · **Default:** *required*" in page
    assert "## `beta`\n\na scalar key\n\n**Type:** integer · **Default:** `7` · **Allowed:** ≥ 0" in page
    assert row(page, "alpha.rate") == ["`alpha.rate`", "number", "`0.5`", "> 0, < 1", "a rate: low \\| high"]
    assert row(page, "alpha.mode") == ["`alpha.mode`", "string", '`"slow"`', 'one of `"fast"`, `"slow"`', "speed"]
    assert row(page, "alpha.limit")[1:4] == ["integer or null", "`null`", "≥ 2"]
    assert row(page, "alpha.nested") == ["`alpha.nested`", "object", "`{}`", "–", "an inner block here"]
    assert row(page, "alpha.nested.depth") == ["`alpha.nested.depth`", "integer", "`3`", "≥ 1, ≤ 8", "how deep"]
    names = ["array of string", '`["x"]`', "≥ 1 items, unique items, items: length ≥ 1"]
    assert row(page, "alpha.names")[1:4] == names
    assert row(page, "alpha.extras")[1] == "map of number"
    assert row(page, "alpha.extras.<name>")[1:] == ["number", "–", "–", "one field's value"]
    assert row(page, "alpha.either")[1] == "string or object"
    assert row(page, "alpha.either.k")[1:3] == ["integer", "*required*"]
    assert "The first section | with a pipe." in page, "a description outside a table keeps its pipe"


def test_a_key_without_a_description_is_caught():
    schema = {
        "definitions": {
            "block": {
                "type": "object",
                "description": "a block",
                "properties": {"size": {"type": "integer"}, "name": {"type": "string", "description": " "}},
            },
        },
        "properties": {
            "top": {
                "type": "object", "description": "documented", "properties": {"inner": {"$ref": "#/definitions/block"}},
            },
            "map": {"type": "object", "description": "a map", "additionalProperties": {"type": "number"}},
        },
    }
    assert undocumented(schema) == [
        "top.inner.size", "top.inner.name", "map.<name>", "definitions.block.size", "definitions.block.name",
    ]


def test_build_script_writes_the_page_and_points_its_edit_link_at_the_schema(monkeypatch):
    written: dict[str, str] = {}
    edit_paths: dict[str, str] = {}

    class Page:
        def __init__(self, name: str) -> None:
            self.name, self.parts = name, []

        def __enter__(self) -> Page:
            return self

        def __exit__(self, *exc: object) -> None:
            written[self.name] = "".join(self.parts)

        def write(self, text: str) -> None:
            self.parts.append(text)

    stub = types.SimpleNamespace(
        open=lambda name, mode: Page(name), set_edit_path=edit_paths.__setitem__, directory=str(REPO / "docs"),
    )
    monkeypatch.setitem(sys.modules, "mkdocs_gen_files", stub)
    script = runpy.run_path(str(REPO / "scripts" / "gen_config_reference.py"))
    assert set(written) == {"reference/configuration.md"}
    page = written["reference/configuration.md"]
    assert page == render_config_reference(load_schema(SCHEMA_PATH), intro=script["INTRO"])
    assert "generated from `workflow/schemas/config.schema.yaml`" in page and "`--configfile` stands alone" in page
    assert edit_paths == {"reference/configuration.md": "../workflow/schemas/config.schema.yaml"}
