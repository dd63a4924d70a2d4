"""Snakemake step: one comparison run, algorithm x device x analog layers (rule finetune_compare, workflow/rules/compare.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.compare import finetune_compare

    finetune_compare(
        data_path=snakemake.input.data,
        pretrained_dir=snakemake.params.pretrained_dir,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        algorithm=snakemake.wildcards.algorithm,
        hyperparameters=dict(snakemake.params.hyperparameters),
        layers=snakemake.wildcards.layers,
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        tau=float(snakemake.params.transfer_noise),
        noise_seed=snakemake.params.noise_seed,
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        device_name=snakemake.wildcards.device,
        context=run_context(snakemake, "finetune"),
        head_noise=snakemake.params.head_transfer_noise,
        simulator_policy=snakemake.params.simulator,
    )
