"""Snakemake step: prepare the pre-training data or one fine-tuning task (rules in workflow/rules/data.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import DataConfig, from_dict
    from analog_tl.steps.prepare import prepare

    task = snakemake.wildcards.get("task", "pretrain")
    prepare(
        config=from_dict(DataConfig, snakemake.params.data),
        role="pretrain" if task == "pretrain" else "finetune",
        classes=snakemake.params.get("classes"),
        out=snakemake.output.data,
        task=task,
    )
