"""Snakemake step: tidy result tables (rule aggregate_tables in workflow/rules/tables.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.tables import write_tables

    write_tables(
        run_folders=snakemake.params.run_folders,
        noise_reports=snakemake.input.noise,
        out_epochs=snakemake.output.epochs,
        out_runs=snakemake.output.runs,
        out_noise=snakemake.output.noise,
        out_relative_noise=snakemake.output.relative_noise,
        fast_lr_selections=snakemake.input.fast_lr,
        out_fast_lr=snakemake.output.fast_lr,
    )
