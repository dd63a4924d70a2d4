rule preflight:
    """First job of every full run: what torch and aihwkit see; stops early if a requested GPU is missing.

    A target of ``rule all`` with a temporary output (removed at the end of the
    run), so it runs at the start of every ``snakemake`` invocation of the
    default target, before other jobs (priority), in the same image and with
    the same GPU request as the training jobs. It is deliberately not an input
    of the training rules: a fresh report would make every finished result
    outdated. Each training job checks its device again before it trains.
    """
    output:
        temp("results/preflight/devices.json"),
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
