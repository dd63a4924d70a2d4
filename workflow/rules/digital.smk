rule finetune_digital_tl:
    """Digital transfer learning: head-swapped pre-trained model, SGD (Table I)."""
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs("results/pretrain"),
        preflight=ancient(PREFLIGHT),  # gate: no training before the device check passed
    output:
        run_outputs("results/runs/{task}/digital_tl/seed~{seed}"),
    params:
        model=config["model"],
        train=lambda wildcards: finetune_params("digital", wildcards.seed),
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
    threads: config["threads"]
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/runs/{task}/digital_tl/seed~{seed}.log",
    benchmark:
        "benchmarks/runs/{task}/digital_tl/seed~{seed}.tsv"
    script:
        "../../scripts/finetune_digital.py"


rule train_digital_scratch:
    """Digital baseline: the same model and SGD from a random initialisation."""
    input:
        data="results/data/tasks/{task}.npz",
        preflight=ancient(PREFLIGHT),  # gate: no training before the device check passed
    output:
        run_outputs("results/runs/{task}/digital_scratch/seed~{seed}"),
    params:
        model=config["model"],
        train=lambda wildcards: finetune_params("digital", wildcards.seed),
        pretrained_dir=None,
    threads: config["threads"]
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/runs/{task}/digital_scratch/seed~{seed}.log",
    benchmark:
        "benchmarks/runs/{task}/digital_scratch/seed~{seed}.tsv"
    script:
        "../../scripts/finetune_digital.py"
