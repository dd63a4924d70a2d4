"""Snakemake step: Fig. 2, test error against epoch (rule plot_fig2 in workflow/rules/figures.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.figures import write_fig2

    write_fig2(snakemake.input.epochs, snakemake.params.tl_noise, snakemake.params.caption, snakemake.params.device,
               snakemake.output.png, snakemake.output.pdf)
