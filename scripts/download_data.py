"""Snakemake step: download or verify one torchvision CIFAR data set (rule download_torchvision, workflow/rules/data.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.steps.prepare import data_config, download

    download(
        config=data_config({"source": "torchvision"}, snakemake.config["data"]),
        dataset=snakemake.wildcards.dataset,
        out=snakemake.output[0],
    )
