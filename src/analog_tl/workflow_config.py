"""The workflow config (YAML) against its JSON schema: validation with defaults and one-line errors."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from analog_tl.errors import ConfigError


def describe_schema_error(config: dict[str, Any], schema: dict[str, Any]) -> str:
    """One line for the most relevant schema violation: where, what, and for unknown keys the allowed ones."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    where = ".".join(str(p) for p in error.absolute_path) or "the config"
    if error.validator == "additionalProperties" and "properties" in error.schema:
        allowed = sorted(error.schema["properties"])
        unknown = sorted(set(error.instance) - set(allowed))
        hints = [
            f"'{key}' (did you mean '{close[0]}'?)" if (close := difflib.get_close_matches(key, allowed, 1)) else f"'{key}'"
            for key in unknown
        ]
        return f"{where}: unknown key(s) {', '.join(hints)}; allowed keys: {allowed}"
    return f"{where}: {error.message}"


def read_workflow_config(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """The config at ``path`` with the schema's defaults filled in, as the workflow sees it; ConfigError if invalid."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = yaml.safe_load(Path(path).read_text())
    try:
        validate(config, schema=str(schema_path))
    except WorkflowError:
        raise ConfigError(f"{path}: {describe_schema_error(config, yaml.safe_load(Path(schema_path).read_text()))}") from None
    return config
