# PRETRAIN_RUN: the run-folder template of analog_tl.vocabulary.


rule pretrain:
    """Digital pre-training on the source task, with data augmentation."""
    input:
        data=PRETRAIN_DATA,
        preflight=after_preflight(PRETRAIN_RUN),  # gate: an unfinished run starts after the device check
    output:
        run_outputs(PRETRAIN_RUN),
    params:
        model=config["model"],
        train=lambda wildcards: pretrain_params(),
    priority: PRETRAIN_PRIORITY
    threads: config["threads"]
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        run_log(PRETRAIN_RUN),
    benchmark:
        run_benchmark(PRETRAIN_RUN)
    script:
        "../../scripts/pretrain.py"
