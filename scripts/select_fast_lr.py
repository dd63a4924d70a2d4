"""Snakemake step: choose c-TTv2's fast_lr for one task on validation error (checkpoint select_fast_lr in workflow/rules/analog.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.tables import write_fast_lr_selection

    write_fast_lr_selection(
        run_folders=snakemake.params.run_folders, task=snakemake.wildcards.task, out_json=snakemake.output[0]
    )
