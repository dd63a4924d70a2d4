"""Snakemake step: one comparison run, algorithm x device x analog layers (rule finetune_compare, workflow/rules/compare.smk)."""

from pathlib import Path

from analog_tl.steps.context import run_context, snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, from_dict
    from analog_tl.steps.compare import finetune_compare
    from analog_tl.steps.jobs import CompareJob, Transfer

    finetune_compare(CompareJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        train_cfg=from_dict(TrainConfig, snakemake.params.train),
        out_dir=Path(snakemake.output[0]).parent,
        task=snakemake.wildcards.task,
        transfer=Transfer(
            pretrained_dir=snakemake.params.pretrained_dir,
            tau=float(snakemake.params.transfer_noise),
            noise_seed=snakemake.params.noise_seed,
            head_noise=snakemake.params.head_transfer_noise,
        ),
        algorithm=snakemake.wildcards.algorithm,
        hyperparameters=dict(snakemake.params.hyperparameters),
        layers=snakemake.wildcards.layers,
        device_name=snakemake.wildcards.device,
        simulator_policy=snakemake.params.simulator,
        context=run_context(snakemake, "finetune"),
    ))
