"""Snakemake step: which comparison pairs aihwkit can build and train (checkpoint compare_pairs, workflow/rules/compare.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.config import AnalogConfig, from_dict
    from analog_tl.steps.compare import check_pairs

    check_pairs(
        algorithms={name: (base, dict(fields)) for name, (base, fields) in snakemake.params.algorithms.items()},  # noqa: F821
        devices={name: from_dict(AnalogConfig, params) for name, params in snakemake.params.devices.items()},  # noqa: F821
        out=snakemake.output[0],  # noqa: F821
        pairs=snakemake.params.pairs,  # noqa: F821
    )
