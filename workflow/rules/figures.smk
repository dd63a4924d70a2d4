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
        tl_noise=SELECTION_NOISE,
        device=config["analog"]["device"],
    priority: FIGS_2_3_PRIORITY
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
        critical="results/tables/critical_noise.csv",
    output:
        png=report(
            "results/figures/fig3_test_error_vs_transfer_noise.png",
            caption="../report/fig3.rst",
            category="Figures",
        ),
        pdf="results/figures/fig3_test_error_vs_transfer_noise.pdf",
    params:
        caption=settings_caption(),
        device=config["analog"]["device"],
    priority: FIGS_2_3_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig3.log",
    script:
        "../../scripts/plot_fig3.py"


rule plot_fig4:
    """Fig. 4: test error of the selected analog TL model against symmetry point skew, both tasks."""
    input:
        summaries=sweep_summaries(SPS_AXES),
    output:
        png=report(
            "results/figures/fig4_test_error_vs_sps.png",
            caption="../report/fig4.rst",
            category="Figures",
        ),
        pdf="results/figures/fig4_test_error_vs_sps.pdf",
    params:
        sweeps=SPS_AXES,
        title="Fig. 4: analog TL against symmetry point skew, one panel per reading (bottom: measured symmetry point)",
        caption=sweep_caption(SPS_AXES),
        device=config["analog"]["device"],
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig4.log",
    script:
        "../../scripts/plot_sweeps.py"


rule plot_fig_spv:
    """Symmetry point variability figure: test error of the selected analog TL model against SpV."""
    input:
        summaries=sweep_summaries([SPV]),
    output:
        png=report(
            "results/figures/fig_spv_test_error_vs_spv.png",
            caption="../report/fig_spv.rst",
            category="Figures",
        ),
        pdf="results/figures/fig_spv_test_error_vs_spv.pdf",
    params:
        sweeps=[SPV],
        title="Analog TL against symmetry point variability",
        caption=sweep_caption([SPV]),
        device=config["analog"]["device"],
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig_spv.log",
    script:
        "../../scripts/plot_sweeps.py"


rule plot_fig5:
    """Fig. 5: test error against pulse update noise (left) and mean pulse device-to-device variability (right)."""
    input:
        summaries=sweep_summaries([PULSE_NOISE, DTOD]),
    output:
        png=report(
            "results/figures/fig5_test_error_vs_pulse_noise_and_dtod.png",
            caption="../report/fig5.rst",
            category="Figures",
        ),
        pdf="results/figures/fig5_test_error_vs_pulse_noise_and_dtod.pdf",
    params:
        sweeps=[PULSE_NOISE, DTOD],
        title="Fig. 5: analog TL against pulse update noise and device-to-device variability",
        caption=sweep_caption([PULSE_NOISE, DTOD]),
        device=config["analog"]["device"],
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig5.log",
    script:
        "../../scripts/plot_sweeps.py"
