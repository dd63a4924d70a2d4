"""Snakemake step: Fig. 3, test error against weight transfer noise (rule plot_fig3 in workflow/rules/figures.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.figures import write_fig3

    write_fig3(snakemake.input.runs, snakemake.input.noise, snakemake.input.critical, snakemake.params.caption,
               snakemake.params.device, snakemake.output.png, snakemake.output.pdf)
