rule plot_fig2:
    """Fig. 2: test error against epoch for the four training modes, one panel per task."""
    input:
        epochs="results/tables/epochs.csv",
    output:
        png=report(
            "results/figures/fig2_test_error_vs_epoch.png",
            caption="../report/fig2.rst",
            category="Figures",
        ),
        pdf="results/figures/fig2_test_error_vs_epoch.pdf",
    params:
        caption=settings_caption(),
        tl_noise=min(NOISE_LEVELS, key=float),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig2.log",
    script:
        "../../scripts/plot_fig2.py"


rule plot_fig3:
    """Fig. 3: test error of analog TL against weight transfer noise, both tasks."""
    input:
        runs="results/tables/runs.csv",
        noise="results/tables/transfer_noise.csv",
    output:
        png=report(
            "results/figures/fig3_test_error_vs_transfer_noise.png",
            caption="../report/fig3.rst",
            category="Figures",
        ),
        pdf="results/figures/fig3_test_error_vs_transfer_noise.pdf",
    params:
        caption=settings_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig3.log",
    script:
        "../../scripts/plot_fig3.py"
