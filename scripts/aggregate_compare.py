"""Snakemake step: comparison tables and the questions beyond the paper (rule aggregate_compare, workflow/rules/compare.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.compare import COMPARE_TABLES, compare_tables
    from analog_tl.results.design import CompareDesign

    tables = compare_tables(snakemake.params.run_folders, snakemake.input.pairs, snakemake.params.references,
                            CompareDesign.from_config(snakemake.params.design))
    tables.write({name: getattr(snakemake.output, name) for name in COMPARE_TABLES})
