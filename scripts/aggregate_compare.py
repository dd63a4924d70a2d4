"""Snakemake step: comparison tables (rule aggregate_compare, workflow/rules/compare.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.compare import compare_tables
    from analog_tl.results.tables import write_csv

    candidates, summary, pairs = compare_tables(snakemake.params.run_folders, snakemake.input.pairs)
    write_csv(candidates, snakemake.output.candidates)
    write_csv(summary, snakemake.output.summary)
    write_csv(pairs, snakemake.output.pairs)
