rule convert_analog:
    """Head-swapped pre-trained model -> aihwkit c-TTv2 model, with weight transfer noise tau added once."""
    input:
        data="results/data/tasks/{task}.npz",
        pretrained=run_outputs("results/pretrain"),
    output:
        model="results/analog_init/{task}/noise~{noise}/seed~{seed}/analog_model.pt",
        noise="results/analog_init/{task}/noise~{noise}/seed~{seed}/transfer_noise.csv",
        record="results/analog_init/{task}/noise~{noise}/seed~{seed}/analog_model.json",
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(),
        noise_seed=config["analog"]["noise_seed"],
        pretrained_dir=lambda wildcards, input: run_folder(input.pretrained),
    threads: config["threads"]
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/analog_init/{task}/noise~{noise}/seed~{seed}.log",
    script:
        "../../scripts/convert_analog.py"


rule finetune_analog_tl:
    """Analog transfer learning: c-TTv2 fine-tuning with AnalogSGD (Table I) from the converted model."""
    input:
        data="results/data/tasks/{task}.npz",
        init="results/analog_init/{task}/noise~{noise}/seed~{seed}/analog_model.pt",
        init_record="results/analog_init/{task}/noise~{noise}/seed~{seed}/analog_model.json",
        preflight=ancient(PREFLIGHT),  # gate: no training before the device check passed
    output:
        run_outputs("results/runs/{task}/analog_tl/noise~{noise}/seed~{seed}"),
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(),
        train=lambda wildcards: finetune_params("analog", wildcards.seed),
    threads: config["threads"]
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/runs/{task}/analog_tl/noise~{noise}/seed~{seed}.log",
    benchmark:
        "benchmarks/runs/{task}/analog_tl/noise~{noise}/seed~{seed}.tsv"
    script:
        "../../scripts/finetune_analog.py"


rule train_analog_scratch:
    """Analog baseline: the same c-TTv2 configuration from a random initialisation."""
    input:
        data="results/data/tasks/{task}.npz",
        preflight=ancient(PREFLIGHT),  # gate: no training before the device check passed
    output:
        run_outputs("results/runs/{task}/analog_scratch/seed~{seed}"),
    params:
        model=config["model"],
        analog=lambda wildcards: analog_params(),
        train=lambda wildcards: finetune_params("analog", wildcards.seed),
    threads: config["threads"]
    resources:
        gpu=GPUS_PER_JOB,
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/runs/{task}/analog_scratch/seed~{seed}.log",
    benchmark:
        "benchmarks/runs/{task}/analog_scratch/seed~{seed}.tsv"
    script:
        "../../scripts/finetune_analog.py"
