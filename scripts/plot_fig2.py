"""Snakemake step: Fig. 2, test error against epoch (rule plot_fig2 in workflow/rules/figures.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    import pandas as pd

    from analog_tl.analog.devices import device_caption
    from analog_tl.results.figures import plot_fig2, save_figure

    caption = snakemake.params.caption + "; " + device_caption(snakemake.params.device)
    figure = plot_fig2(pd.read_csv(snakemake.input.epochs), float(snakemake.params.tl_noise), caption)
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
