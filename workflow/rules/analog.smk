# ANALOG_TL_RUN and ANALOG_SCRATCH_RUN: the run-folder templates of analog_tl.vocabulary.


rule convert_analog:
    """Head-swapped pre-trained model -> aihwkit c-TTv2 model, with weight transfer noise tau added once."""
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs(PRETRAIN_RUN),
    output:
        model=f"{ANALOG_INIT}/analog_model.pt",
        noise=f"{ANALOG_INIT}/transfer_noise.csv",
        record=f"{ANALOG_INIT}/analog_model.json",
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(),
        noise_seed=config["analog"]["noise_seed"],
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
        head_transfer_noise=config["analog"]["head_transfer_noise"],
    priority: FIGS_2_3_PRIORITY
    threads: config["threads"]
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/analog_init/{task}/noise~{noise}/seed~{seed}.log",
    script:
        "../../scripts/convert_analog.py"


rule finetune_analog_tl:
    """Analog transfer learning: c-TTv2 fine-tuning with AnalogSGD (Table I) from the converted model.

    ``tl_mode`` analog_tl trains every parameter; analog_tl_frozen_digital (the
    ablation) freezes the digital ones (LayerNorms, biases, position tables).
    """
    input:
        data="results/data/tasks/{task}.npz",
        init=f"{ANALOG_INIT}/analog_model.pt",
        init_record=f"{ANALOG_INIT}/analog_model.json",
        preflight=after_preflight(ANALOG_TL_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(ANALOG_TL_RUN),
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(wildcards.fast_lr),
        train=lambda wildcards: finetune_params(
            "analog", wildcards.seed, freeze_digital=wildcards.tl_mode == ANALOG_TL_FROZEN_DIGITAL
        ),
        mode=lambda wildcards: wildcards.tl_mode,
    priority: FIGS_2_3_PRIORITY
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(ANALOG_TL_RUN),
    benchmark:
        run_benchmark(ANALOG_TL_RUN)
    script:
        "../../scripts/finetune_analog.py"


rule train_analog_scratch:
    """Analog baseline: the same c-TTv2 configuration from a random initialisation."""
    input:
        data="results/data/tasks/{task}.npz",
        preflight=after_preflight(ANALOG_SCRATCH_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(ANALOG_SCRATCH_RUN),
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(wildcards.fast_lr),
        train=lambda wildcards: finetune_params("analog", wildcards.seed),
        mode=ANALOG_SCRATCH,
    priority: FIGS_2_3_PRIORITY
    threads: config["threads"]
    group: gpu_share_group  # on SLURM, compute.jobs_per_gpu such jobs share one allocation and its GPU
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(ANALOG_SCRATCH_RUN),
    benchmark:
        run_benchmark(ANALOG_SCRATCH_RUN)
    script:
        "../../scripts/finetune_analog.py"


checkpoint select_fast_lr:
    """Choose c-TTv2's fast_lr per task on validation error (mean over seeds): one for analog TL, one for scratch.

    Analog TL at the smallest transfer noise chooses for every analog TL run and
    sweep of the task; analog scratch chooses for itself. Test errors are not read.
    """
    input:
        lambda wildcards: expand(
            "{folder}/{file}", folder=fast_lr_candidate_folders(wildcards.task), file=SELECTION_RUN_FILES
        ),
    output:
        "results/selection/fast_lr/{task}.json",
    params:
        run_folders=lambda wildcards, input: run_folders_of(input),
    priority: FIGS_2_3_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/selection/fast_lr/{task}.log",
    script:
        "../../scripts/select_fast_lr.py"
