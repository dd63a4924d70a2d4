# DIGITAL_TL_RUN and DIGITAL_SCRATCH_RUN: the run-folder templates of analog_tl.vocabulary.


rule finetune_digital_tl:
    """Digital transfer learning: head-swapped pre-trained model, SGD (Table I)."""
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs(PRETRAIN_RUN),
        preflight=after_preflight(DIGITAL_TL_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(DIGITAL_TL_RUN),
    params:
        model=config["model"],
        train=lambda wildcards: finetune_params("digital", wildcards.seed),
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
    priority: FIGS_2_3_PRIORITY
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(DIGITAL_TL_RUN),
    benchmark:
        run_benchmark(DIGITAL_TL_RUN)
    script:
        "../../scripts/finetune_digital.py"


rule train_digital_scratch:
    """Digital baseline: the same model and SGD from a random initialisation."""
    input:
        data="results/data/tasks/{task}.npz",
        preflight=after_preflight(DIGITAL_SCRATCH_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(DIGITAL_SCRATCH_RUN),
    params:
        model=config["model"],
        train=lambda wildcards: finetune_params("digital", wildcards.seed),
        pretrained_dir=None,
    priority: FIGS_2_3_PRIORITY
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(DIGITAL_SCRATCH_RUN),
    benchmark:
        run_benchmark(DIGITAL_SCRATCH_RUN)
    script:
        "../../scripts/finetune_digital.py"
