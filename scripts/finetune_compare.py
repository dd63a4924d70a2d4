"""Snakemake step: one comparison run, algorithm x device x analog layers (rule finetune_compare, workflow/rules/compare.smk)."""

from analog_tl.steps.context import snakemake_step, training_fields, transfer_of

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, from_dict
    from analog_tl.steps.compare import finetune_compare
    from analog_tl.steps.jobs import CompareJob

    finetune_compare(CompareJob(
        **training_fields(snakemake, "finetune"),  # noqa: F821
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),  # noqa: F821
        task=snakemake.wildcards.task,  # noqa: F821
        transfer=transfer_of(snakemake, snakemake.params.transfer_noise),  # noqa: F821
        algorithm=snakemake.wildcards.algorithm,  # noqa: F821
        base_algorithm=snakemake.params.base_algorithm,  # noqa: F821
        fixed_fields=dict(snakemake.params.fixed_fields),  # noqa: F821
        hyperparameters=dict(snakemake.params.hyperparameters),  # noqa: F821
        layers=snakemake.wildcards.layers,  # noqa: F821
        device_name=snakemake.wildcards.device,  # noqa: F821
        simulator_policy=snakemake.params.simulator,  # noqa: F821
    ))
