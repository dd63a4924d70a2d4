"""Snakemake step: one device-sweep point of analog TL (rule finetune_analog_sweep in workflow/rules/sweeps.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.analog.sweeps import SweepPoint
    from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.jobs import SweepJob, Transfer
    from analog_tl.steps.training import finetune_analog_sweep

    finetune_analog_sweep(SweepJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        transfer=Transfer(
            pretrained_dir=snakemake.params.pretrained_dir,
            tau=snakemake.params.transfer_noise,
            noise_seed=snakemake.params.noise_seed,
            head_noise=snakemake.params.head_transfer_noise,
        ),
        point=SweepPoint(**snakemake.params.point),
        context=run_context(snakemake, "finetune"),  # noqa: F821
    ))
