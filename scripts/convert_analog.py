"""Snakemake step: convert the head-swapped pre-trained model to analog with transfer noise (rule convert_analog)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, ModelConfig, from_dict
    from analog_tl.steps.conversion import convert_pretrained
    from analog_tl.steps.jobs import ConversionJob, Transfer

    convert_pretrained(ConversionJob(
        data_path=snakemake.input.data,
        model_cfg=from_dict(ModelConfig, snakemake.params.model),
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        transfer=Transfer(
            pretrained_dir=snakemake.params.pretrained_dir,
            tau=float(snakemake.wildcards.noise),
            noise_seed=snakemake.params.noise_seed,
            head_noise=snakemake.params.head_transfer_noise,
        ),
        seed=int(snakemake.wildcards.seed),
        out_model=snakemake.output.model,
        out_noise=snakemake.output.noise,
    ))
