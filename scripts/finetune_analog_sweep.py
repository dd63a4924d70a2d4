"""Snakemake step: one device-sweep point of analog TL (rule finetune_analog_sweep in workflow/rules/sweeps.smk)."""

from analog_tl.steps.context import snakemake_step, training_fields, transfer_of

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.analog.sweeps import SweepPoint
    from analog_tl.config import AnalogConfig, from_dict
    from analog_tl.steps.jobs import SweepJob
    from analog_tl.steps.training import finetune_analog_sweep

    finetune_analog_sweep(SweepJob(
        **training_fields(snakemake, "finetune"),  # noqa: F821
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),  # noqa: F821
        task=snakemake.wildcards.task,  # noqa: F821
        transfer=transfer_of(snakemake, snakemake.params.transfer_noise),  # noqa: F821
        point=SweepPoint(**snakemake.params.point),  # noqa: F821
    ))
