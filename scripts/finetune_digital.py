"""Snakemake step: digital transfer learning or digital training from scratch (workflow/rules/digital.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.jobs import DigitalJob
    from analog_tl.steps.training import finetune_digital

    finetune_digital(DigitalJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        pretrained_dir=snakemake.params.pretrained_dir,
        context=run_context(snakemake, "finetune"),  # noqa: F821
    ))
