rule write_run_plan:
    """The grid of runs behind an aggregate table, as a file its aggregation rule depends on.

    Those rules reach their runs through checkpoints, and Snakemake keeps an
    existing output whose checkpoint has not run yet (a task added to the config
    would leave every table as it was). The plan's params are the grid: when it
    grows or shrinks, the plan is written again and the table is made again.
    """
    output:
        "results/plans/{table}.json",
    params:
        grid=lambda wildcards: run_plan(wildcards.table),
    wildcard_constraints:
        table=r"tables|compare|sweeps/[A-Za-z_]+",
    priority: FIGS_2_3_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/run_plans/{table}.log",
    script:
        "../../scripts/write_run_plan.py"


rule aggregate_tables:
    """Tidy tables: one row per run and epoch, one row per run, realised transfer noise per layer, fast_lr choice."""
    input:
        runs=lambda wildcards: expand(
            "{folder}/{file}", folder=all_run_folders(), file=TABLE_RUN_FILES
        ),
        noise=noise_reports(),
        fast_lr=expand("results/selection/fast_lr/{task}.json", task=TASKS),
        plan=plan_file("tables"),
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
        relative_noise=report(
            "results/tables/transfer_noise_relative.csv",
            caption="../report/table_transfer_noise_relative.rst",
            category="Tables",
        ),
        fast_lr=report(
            "results/tables/fast_lr.csv",
            caption="../report/table_fast_lr.rst",
            category="Tables",
        ),
    params:
        run_folders=lambda wildcards, input: run_folders_of(input.runs),
        caption=settings_caption(),
    priority: FIGS_2_3_PRIORITY
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
    priority: FIGS_2_3_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/headline_tables.log",
    script:
        "../../scripts/headline_tables.py"


rule claim_verdicts:
    """The paper's claims under the comparison protocol (docs/protocol.md): Figs. 2 and 3's runs and the sweeps'."""
    input:
        runs="results/tables/runs.csv",
        sweeps=expand("results/tables/sweeps/{sweep}_runs.csv", sweep=SWEEP_NAMES),
    output:
        claims=report(
            "results/tables/claims.csv",
            caption="../report/table_claims.rst",
            category="Tables",
        ),
        verdicts=report(
            "results/tables/verdicts.csv",
            caption="../report/table_verdicts.rst",
            category="Tables",
        ),
    params:
        caption=settings_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/claim_verdicts.log",
    script:
        "../../scripts/claim_verdicts.py"
