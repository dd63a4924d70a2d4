"""Snakemake step: convert the head-swapped pre-trained model to analog with transfer noise (rule convert_analog)."""

from analog_tl.steps.context import snakemake_step, transfer_of

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, ModelConfig, from_dict
    from analog_tl.steps.conversion import convert_pretrained
    from analog_tl.steps.jobs import ConversionJob

    convert_pretrained(ConversionJob(
        data_path=snakemake.input.data,  # noqa: F821
        model_cfg=from_dict(ModelConfig, snakemake.params.model),  # noqa: F821
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),  # noqa: F821
        transfer=transfer_of(snakemake, snakemake.wildcards.noise),  # noqa: F821
        seed=int(snakemake.wildcards.seed),  # noqa: F821
        out_model=snakemake.output.model,  # noqa: F821
        out_noise=snakemake.output.noise,  # noqa: F821
    ))
