"""Snakemake step: digital pre-training (rule pretrain in workflow/rules/pretrain.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.training import pretrain
    from analog_tl.training.jobs import TrainingJob

    pretrain(TrainingJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        out_dir=Path(snakemake.output[0]).parent,
        context=run_context(snakemake, "pretrain"),  # noqa: F821
    ))
