# SWEEP_RUN: the run-folder template of analog_tl.vocabulary.


rule finetune_analog_sweep:
    """One device-sweep point: the pre-trained model converted onto the swept device, c-TTv2 at one lr and seed.

    fast_lr is the task's analog TL choice (select_fast_lr); sweep is an axis of SWEEP_NAMES.
    """
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs(PRETRAIN_RUN),
        preflight=after_preflight(SWEEP_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(SWEEP_RUN),
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(wildcards.fast_lr),
        point=sweep_point,
        train=sweep_train_params,
        transfer_noise=config["sweeps"]["transfer_noise"],
        noise_seed=config["analog"]["noise_seed"],
        head_transfer_noise=config["analog"]["head_transfer_noise"],
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(SWEEP_RUN),
    benchmark:
        run_benchmark(SWEEP_RUN)
    script:
        "../../scripts/finetune_analog_sweep.py"


rule aggregate_sweep:
    """One sweep's runs with the learning-rate selection (validation only), and the selected models over seeds."""
    input:
        runs=lambda wildcards: expand(
            "{folder}/{file}", folder=sweep_run_folders(wildcards.sweep), file=TABLE_RUN_FILES
        ),
        plan=lambda wildcards: plan_file(f"sweeps/{wildcards.sweep}"),
    output:
        candidates=report(
            "results/tables/sweeps/{sweep}_runs.csv",
            caption="../report/table_sweeps.rst",
            category="Tables",
            subcategory="Device sweeps",
        ),
        summary=report(
            "results/tables/sweeps/{sweep}_summary.csv",
            caption="../report/table_sweep_summary.rst",
            category="Tables",
            subcategory="Device sweeps",
        ),
    params:
        run_folders=lambda wildcards, input: run_folders_of(input.runs),
        caption=lambda wildcards: sweep_caption([wildcards.sweep]),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/aggregate_sweeps/{sweep}.log",
    script:
        "../../scripts/aggregate_sweeps.py"
