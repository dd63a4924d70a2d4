rule prepare_pretrain_data:
    """Source task for pre-training (CIFAR-10 in the paper): all its classes, train/val/test."""
    output:
        data="results/data/pretrain.npz",
        meta="results/data/pretrain.npz.json",
    params:
        data=lambda wildcards: data_params("pretrain"),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/prepare_data/pretrain.log",
    script:
        "../../scripts/prepare_data.py"


rule prepare_task_data:
    """One fine-tuning task (a CIFAR-100 subset in the paper): the configured classes, train/val/test."""
    output:
        data="results/data/tasks/{task}.npz",
        meta="results/data/tasks/{task}.npz.json",
    params:
        data=lambda wildcards: data_params("finetune"),
        classes=lambda wildcards: task_classes(wildcards.task),
    conda:
        "../../envs/analog-tl.yaml"
    log:
        "logs/prepare_data/{task}.log",
    script:
        "../../scripts/prepare_data.py"
