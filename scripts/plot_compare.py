"""Snakemake step: Fig. 6 (algorithms x devices) or the analog-layer figure (rules plot_fig6, plot_fig_layers)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    import pandas as pd

    from analog_tl.results.compare import plot_ablation, plot_fig6
    from analog_tl.results.figures import save_figure
    from analog_tl.results.tables import runs_table

    summary, runs = pd.read_csv(snakemake.input.summary), runs_table(snakemake.params.references)
    if snakemake.params.figure == "fig6":
        figure = plot_fig6(summary, pd.read_csv(snakemake.input.pairs), runs, snakemake.params.caption)
    else:
        figure = plot_ablation(summary, runs, snakemake.params.caption)
    save_figure(figure, snakemake.output.png, snakemake.output.pdf)
