checkpoint preflight:
    """What torch, Triton and aihwkit see; a failed check stops the run before any training job starts.

    It checks compute.device for digital training and for each analog
    simulator this config's runs use (ANALOG_SIMULATORS in common.smk).

    Runs in the same image and with the same GPU request as the training jobs,
    first (priority), whenever its report is missing, when compute.device
    changes, and on every invocation with the GPU profiles (they set
    ``forcerun: [preflight]``). A checkpoint, not an input file: every training
    job whose run is unfinished waits for it (``after_preflight`` in common.smk),
    and a new report never makes finished results outdated. Each training job
    checks its device again before it trains.
    """
    output:
        PREFLIGHT,
    params:
        device=config["compute"]["device"],
        simulators=ANALOG_SIMULATORS,
    priority: 100
    resources:
        **GPU_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/preflight.log",
    script:
        "../../scripts/preflight.py"
