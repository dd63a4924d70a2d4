rule download_torchvision:
    """With data.source torchvision: fetch (data.download) or verify one CIFAR data set in its root, once.

    The only job that downloads: the preparation jobs of every task read the
    root it filled. Its record is an input of those jobs.
    """
    output:
        "results/data/downloads/{dataset}.json",
    wildcard_constraints:
        dataset="|".join(TORCHVISION_DATASETS.values()),
    priority: PRETRAIN_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/download/{dataset}.log",
    script:
        "../../scripts/download_data.py"


rule prepare_pretrain_data:
    """Source task for pre-training (CIFAR-10 in the paper): all its classes, train/val/test."""
    input:
        downloaded(PRETRAIN_ROLE),
    output:
        data=PRETRAIN_DATA,
        meta=f"{PRETRAIN_DATA}.json",
    params:
        data=lambda wildcards: data_params(PRETRAIN_ROLE),
        role=PRETRAIN_ROLE,
        task="pretrain",
    priority: PRETRAIN_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/prepare_data/pretrain.log",
    script:
        "../../scripts/prepare_data.py"


rule prepare_task_data:
    """One fine-tuning task (a CIFAR-100 subset in the paper): the configured classes, train/val/test."""
    input:
        downloaded(FINETUNE_ROLE),
    output:
        data="results/data/tasks/{task}.npz",
        meta="results/data/tasks/{task}.npz.json",
    params:
        data=lambda wildcards: data_params(FINETUNE_ROLE),
        role=FINETUNE_ROLE,
        task=lambda wildcards: wildcards.task,
        classes=lambda wildcards: task_classes(wildcards.task),
    priority: FIGS_2_3_PRIORITY
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/prepare_data/{task}.log",
    script:
        "../../scripts/prepare_data.py"
