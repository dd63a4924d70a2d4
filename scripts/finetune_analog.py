"""Snakemake step: c-TTv2 analog transfer learning or analog training from scratch (workflow/rules/analog.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.jobs import AnalogJob
    from analog_tl.steps.training import finetune_analog

    noise = snakemake.wildcards.get("noise")
    finetune_analog(AnalogJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        init_path=snakemake.input.get("init"),
        tau=float(noise) if noise is not None else None,
        mode=snakemake.params.mode,
        context=run_context(snakemake, "finetune"),  # noqa: F821
    ))
