"""Snakemake step: a device-sweep figure, one panel per sweep (rules plot_fig4, plot_fig_spv, plot_fig5)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    import pandas as pd

    from analog_tl.analog.devices import device_caption
    from analog_tl.results.figures import plot_sweeps, save_figure

    summary = pd.concat([pd.read_csv(path) for path in snakemake.input.summaries], ignore_index=True)
    caption = snakemake.params.caption + "; nominal " + device_caption(snakemake.params.device)
    figure = plot_sweeps(summary, snakemake.params.sweeps, snakemake.params.title, caption)
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
