"""Snakemake step: c-TTv2 analog transfer learning or analog training from scratch (workflow/rules/analog.smk)."""

from analog_tl.steps.context import snakemake_step, training_fields

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, from_dict
    from analog_tl.steps.jobs import AnalogJob
    from analog_tl.steps.training import finetune_analog

    noise = snakemake.wildcards.get("noise")  # noqa: F821
    finetune_analog(AnalogJob(
        **training_fields(snakemake, "finetune"),  # noqa: F821
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),  # noqa: F821
        task=snakemake.wildcards.task,  # noqa: F821
        init_path=snakemake.input.get("init"),  # noqa: F821
        tau=float(noise) if noise is not None else None,
        mode=snakemake.params.mode,  # noqa: F821
    ))
