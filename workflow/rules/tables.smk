rule aggregate_tables:
    """Tidy tables: one row per run and epoch, one row per run, realised transfer noise per layer."""
    input:
        runs=expand("{folder}/{file}", folder=all_run_folders(), file=["metrics.csv", "final.json", "run.json"]),
        noise=noise_reports(),
    output:
        epochs=report(
            "results/tables/epochs.csv",
            caption="../report/table_epochs.rst",
            category="Tables",
        ),
        runs=report(
            "results/tables/runs.csv",
            caption="../report/table_runs.rst",
            category="Tables",
        ),
        noise=report(
            "results/tables/transfer_noise.csv",
            caption="../report/table_transfer_noise.rst",
            category="Tables",
        ),
    params:
        run_folders=all_run_folders(),
        caption=settings_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/aggregate_tables.log",
    script:
        "../../scripts/aggregate_tables.py"


rule headline_tables:
    """Critical weight transfer noise per task (hinge fit) and the paper's headline comparisons."""
    input:
        runs="results/tables/runs.csv",
    output:
        critical=report(
            "results/tables/critical_noise.csv",
            caption="../report/table_critical_noise.rst",
            category="Tables",
        ),
        summary=report(
            "results/tables/summary.csv",
            caption="../report/table_summary.rst",
            category="Tables",
        ),
    params:
        caption=settings_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/headline_tables.log",
    script:
        "../../scripts/headline_tables.py"
