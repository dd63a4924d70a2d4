rule pretrain:
    """Digital pre-training on the source task, with data augmentation."""
    input:
        data="results/data/pretrain.npz",
        preflight=ancient(PREFLIGHT),  # gate: no training before the device check passed
    output:
        run_outputs("results/pretrain"),
    params:
        model=config["model"],
        train=lambda wildcards: pretrain_params(),
    threads: config["threads"]
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/pretrain.log",
    benchmark:
        "benchmarks/pretrain.tsv"
    script:
        "../../scripts/pretrain.py"
