"""Snakemake step: prepare the pre-training data or one fine-tuning task (rules in workflow/rules/data.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.steps.prepare import data_config, prepare

    prepare(
        config=data_config(snakemake.params.data, snakemake.config["data"], download=False),
        role=snakemake.params.role,
        classes=snakemake.params.get("classes"),
        out=snakemake.output.data,
        task=snakemake.params.task,
    )
