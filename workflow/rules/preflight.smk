rule preflight:
    """What torch and aihwkit see; stops the run early if the requested GPU is not usable.

    A target of ``rule all``: it runs first (priority) whenever its report is
    missing, in the same image and with the same GPU request as the training
    jobs. It is deliberately not an input of the training rules: a fresh
    report would make every finished result outdated. Each training job
    checks its device again before it trains.
    """
    output:
        "results/preflight/devices.json",
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
