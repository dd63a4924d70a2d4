"""Snakemake step: write the grid of runs behind an aggregate table (rule write_run_plan in workflow/rules/tables.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.io import write_json

    write_json(snakemake.output[0], {"table": snakemake.wildcards.table, "grid": snakemake.params.grid})
