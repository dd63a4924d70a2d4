checkpoint compare_pairs:
    """Which (algorithm, device) pairs of the comparison's arms aihwkit can build and train (one step on a tiny layer),
    and why not.

    The comparison runs exist only for the pairs that pass; the report (and
    tables/compare_pairs.csv) names every other pair with aihwkit's message.
    """
    output:
        "results/compare/pairs.json",
    params:
        algorithms=lambda wildcards: {a: (base_algorithm(a), variant_fields(a)) for a, _, _ in compare_arms()},
        devices=lambda wildcards: {name: compare_device_params(name) for name in COMPARE["devices"]},
        pairs=lambda wildcards: sorted({(a, d) for a, d, _ in compare_arms()}),  # the arms' pairs only
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/compare/pairs.log",
    script:
        "../../scripts/check_pairs.py"


rule finetune_compare:
    """One comparison run: analog TL from the pre-trained model with one algorithm, device, grid point and seed.

    ``layers`` all converts every Linear layer; backbone keeps the head
    digital; head keeps the backbone digital (the ablations).
    """
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs(PRETRAIN_RUN),
        preflight=after_preflight(COMPARE_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(COMPARE_RUN),
    params:
        model=config["model"],
        analog=lambda wildcards: compare_device_params(wildcards.device),
        hyperparameters=lambda wildcards: grid_points(wildcards.algorithm)[wildcards.point],
        base_algorithm=lambda wildcards: base_algorithm(wildcards.algorithm),
        fixed_fields=lambda wildcards: variant_fields(wildcards.algorithm),
        train=lambda wildcards: finetune_params("analog", wildcards.seed, epochs=COMPARE["epochs"]),
        transfer_noise=COMPARE["transfer_noise"],
        noise_seed=config["analog"]["noise_seed"],
        head_transfer_noise=config["analog"]["head_transfer_noise"],
        simulator=COMPARE["simulator"],
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(COMPARE_RUN),
    benchmark:
        run_benchmark(COMPARE_RUN)
    script:
        "../../scripts/finetune_compare.py"


rule aggregate_compare:
    """The comparison's tables: every run with the grid-point selection (validation only), their curves, the selected
    arms over seeds, the pair check, and the questions beyond the paper scored under the protocol."""
    input:
        runs=lambda wildcards: expand(
            "{folder}/{file}", folder=compare_run_folders(), file=TABLE_RUN_FILES
        ),
        pairs="results/compare/pairs.json",
        # digital TL, the reference of the layer questions: the same pre-training, splits and seeds
        references=digital_run_files(COMPARE_TASKS, TABLE_RUN_FILES),
        plan=plan_file("compare"),
    output:
        **{
            name: report(
                f"results/tables/compare_{name}.csv",
                caption=f"../report/table_compare_{name}.rst",
                category="Tables",
                subcategory="Algorithms and devices",
            )
            for name in ("runs", "summary", "pairs", "answers")
        },
        epochs="results/tables/compare_epochs.csv",
        questions="results/tables/compare_questions.csv",
    params:
        run_folders=lambda wildcards, input: run_folders_of(input.runs),
        references=lambda wildcards, input: run_folders_of(input.references),
        design=compare_design_config(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/aggregate_compare.log",
    script:
        "../../scripts/aggregate_compare.py"


rule plot_fig6:
    """Fig. 6: selected test error per algorithm and device for each task, digital TL and scratch as reference lines."""
    input:
        summary="results/tables/compare_summary.csv",
        pairs="results/tables/compare_pairs.csv",
        # the digital reference lines: the digital runs themselves, so the figures need not wait for the analog grid
        references=digital_run_files(COMPARE_TASKS, SELECTION_RUN_FILES),
    output:
        png=report(
            "results/figures/fig6_test_error_by_algorithm_and_device.png",
            caption="../report/fig6.rst",
            category="Figures",
        ),
        pdf="results/figures/fig6_test_error_by_algorithm_and_device.pdf",
    params:
        references=lambda wildcards, input: run_folders_of(input.references),
        figure="fig6",
        caption=compare_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig6.log",
    script:
        "../../scripts/plot_compare.py"


rule plot_fig_layers:
    """Which layers carry the gap: c-TTv2 analog TL with all, backbone-only and head-only analog layers."""
    input:
        summary="results/tables/compare_summary.csv",
        pairs="results/tables/compare_pairs.csv",
        # the digital reference lines: the digital runs themselves, so the figures need not wait for the analog grid
        references=digital_run_files(COMPARE_TASKS, SELECTION_RUN_FILES),
    output:
        png=report(
            "results/figures/fig_layers_test_error_by_analog_layers.png",
            caption="../report/fig_layers.rst",
            category="Figures",
        ),
        pdf="results/figures/fig_layers_test_error_by_analog_layers.pdf",
    params:
        references=lambda wildcards, input: run_folders_of(input.references),
        figure="layers",
        caption=compare_caption(),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/figures/fig_layers.log",
    script:
        "../../scripts/plot_compare.py"
