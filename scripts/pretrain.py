"""Snakemake step: digital pre-training (rule pretrain in workflow/rules/pretrain.smk)."""

from analog_tl.steps.context import snakemake_step, training_fields

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.steps.training import pretrain
    from analog_tl.training.jobs import TrainingJob

    pretrain(TrainingJob(**training_fields(snakemake, "pretrain")))  # noqa: F821
