"""Snakemake step: one device-sweep point of analog TL (rule finetune_analog_sweep in workflow/rules/sweeps.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.analog.sweeps import SweepPoint
    from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.training import finetune_analog_sweep

    finetune_analog_sweep(
        data_path=snakemake.input.data,
        pretrained_dir=snakemake.params.pretrained_dir,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        point=SweepPoint(**snakemake.params.point),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        tau=snakemake.params.transfer_noise,
        noise_seed=snakemake.params.noise_seed,
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        context=run_context(snakemake, "finetune"),  # noqa: F821
        head_noise=snakemake.params.head_transfer_noise,
    )
