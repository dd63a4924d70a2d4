"""Snakemake step: sweep runs with learning-rate selection, and their summary (rule aggregate_sweep in workflow/rules/sweeps.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.tables import write_sweep_tables

    write_sweep_tables(
        run_folders=snakemake.params.run_folders,
        out_candidates=snakemake.output.candidates,
        out_summary=snakemake.output.summary,
    )
