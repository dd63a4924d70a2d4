"""Snakemake step: critical transfer noise and the paper's comparisons (rule headline_tables)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.tables import write_headline_tables

    write_headline_tables(
        runs_csv=snakemake.input.runs, out_critical=snakemake.output.critical, out_summary=snakemake.output.summary
    )
