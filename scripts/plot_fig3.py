"""Snakemake step: Fig. 3, test error against weight transfer noise (rule plot_fig3 in workflow/rules/figures.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    import pandas as pd

    from analog_tl.analog.devices import device_caption
    from analog_tl.results.figures import plot_fig3, save_figure

    figure = plot_fig3(
        pd.read_csv(snakemake.input.runs),
        pd.read_csv(snakemake.input.noise),
        pd.read_csv(snakemake.input.critical),
        snakemake.params.caption + "; " + device_caption(snakemake.params.device),
    )
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
