rule preflight:
    """What torch and aihwkit see; a failed check stops the run before any training job starts.

    Runs in the same image and with the same GPU request as the training jobs,
    first (priority), whenever its report is missing, and on every invocation
    with the GPU profiles (they set ``forcerun: [preflight]``). Every training
    rule takes the report as an ``ancient()`` input: no training job starts
    until the check has passed, and a fresh report does not make finished
    results outdated. Each training job checks its device again before it trains.
    """
    output:
        PREFLIGHT,
    params:
        device=config["compute"]["device"],
    priority: 100
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/preflight.log",
    script:
        "../../scripts/preflight.py"
