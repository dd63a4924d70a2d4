"""Snakemake step: which comparison pairs aihwkit can build and train (checkpoint compare_pairs, workflow/rules/compare.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, DeviceConfig, from_dict
    from analog_tl.steps.compare import check_pairs

    check_pairs(
        algorithms=snakemake.params.algorithms,
        devices={name: from_dict(DeviceConfig, entry) for name, entry in snakemake.params.devices.items()},
        analog_cfg=from_dict(AnalogConfig, snakemake.params.analog),
        out=snakemake.output[0],
    )
