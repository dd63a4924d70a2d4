"""Write the site's configuration reference from the JSON schema, at build time (mkdocs-gen-files).

Run by ``mkdocs build`` through the ``gen-files`` plugin (mkdocs.yml:
``scripts: [scripts/gen_config_reference.py]``); writes the virtual page
``reference/configuration.md``, whose edit link points at the schema (the
edit path is relative to ``docs_dir``, as ``edit_uri`` usually ends in ``docs/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mkdocs_gen_files

REPO = Path(__file__).resolve().parents[1]
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"  # relative to the repository root
PAGE = "reference/configuration.md"
INTRO = f"""\
This page is generated from `{SCHEMA.as_posix()}` each time the site is built: edit the schema, never
this page. Every config is validated against that schema before any job runs: the schema's defaults fill
missing keys, and a misspelt key, a wrong type or a value outside its bounds fails at once with one line
that names the key. A config given with `--configfile` stands alone: `config/config.yaml` is then not
read, and only the schema's defaults fill what the config leaves out.

Keys are given by their dotted path (`data.synthetic.seed`); `<name>` stands for a key of your choice
(a task name, a device name, an aihwkit field). A default that reads "when ... is not set" is the one
the enclosing key's own default gives when that enclosing key is absent."""


def main() -> None:
    """Render the schema into the virtual page and point its edit link at the schema."""
    if str(REPO / "src") not in sys.path:
        sys.path.insert(0, str(REPO / "src"))  # the checkout's library, as every workflow step uses it
    from analog_tl.config_reference import load_schema, render_config_reference

    page = render_config_reference(load_schema(REPO / SCHEMA), intro=INTRO)
    with mkdocs_gen_files.open(PAGE, "w") as handle:
        handle.write(page)
    edit_path = os.path.relpath(REPO / SCHEMA, mkdocs_gen_files.directory)  # ../workflow/schemas/...
    mkdocs_gen_files.set_edit_path(PAGE, Path(edit_path).as_posix())


main()
