"""The workflow config (YAML) against its JSON schema: validation with defaults and one-line errors."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
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


def read_workflow_config(path: str | Path | Sequence[str | Path], schema_path: str | Path) -> dict[str, Any]:
    """The config at ``path`` with the schema's defaults filled in, as the workflow sees it; ConfigError if invalid.

    Several paths are merged in order, each file's keys (nested mappings key by
    key, lists whole) over the earlier ones', as Snakemake merges
    ``--configfile A B`` (``snakemake.utils.update_config``): an overlay such as
    ``config/real-small-fast-lr.yaml`` then only lists what it changes.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import update_config, validate

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    config: dict[str, Any] = {}
    for one in paths:
        if Path(one).is_dir():
            raise ConfigError(f"{one}: a folder, not a config file; in a script whose --config takes several files, "
                              "put another option or -- between the config files and the folders that follow")
        loaded = yaml.safe_load(Path(one).read_text())
        if not isinstance(loaded, dict):
            raise ConfigError(f"{one}: not a mapping of config keys")
        update_config(config, loaded)
    where = " + ".join(str(p) for p in paths)
    try:
        validate(config, schema=str(schema_path))
    except WorkflowError:
        raise ConfigError(f"{where}: {describe_schema_error(config, yaml.safe_load(Path(schema_path).read_text()))}") from None
    return config


def restrict_tasks(config: dict[str, Any], tasks: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` whose grids hold only ``tasks`` (``tasks``, ``sweeps.tasks``, ``compare.tasks``).

    For merging the tasks of a grid made in parts whose runs are complete
    while another task's still run. ConfigError naming a task the config or
    one of its sections does not run.
    """
    unknown = [t for t in tasks if t not in config["tasks"]]
    if unknown:
        raise ConfigError(f"task(s) {unknown} are not in the config's tasks {sorted(config['tasks'])}")
    restricted = {**config, "tasks": {t: config["tasks"][t] for t in tasks}}
    for section in ("sweeps", "compare"):
        listed = (config.get(section) or {}).get("tasks") or []
        if listed:
            outside = [t for t in tasks if t not in listed]
            if outside:
                raise ConfigError(f"task(s) {outside} are not in the config's {section}.tasks {listed}")
            restricted[section] = {**config[section], "tasks": list(tasks)}
    return restricted
