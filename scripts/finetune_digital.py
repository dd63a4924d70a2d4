"""Snakemake step: digital transfer learning or digital training from scratch (workflow/rules/digital.smk)."""

from analog_tl.steps.context import snakemake_step, training_fields

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.steps.jobs import DigitalJob
    from analog_tl.steps.training import finetune_digital

    finetune_digital(DigitalJob(
        **training_fields(snakemake, "finetune"),  # noqa: F821
        task=snakemake.wildcards.task,  # noqa: F821
        pretrained_dir=snakemake.params.pretrained_dir,  # noqa: F821
    ))
