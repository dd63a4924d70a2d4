"""Snakemake step: preflight check of the compute devices (rule preflight in workflow/rules/preflight.smk)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.steps.preflight import preflight

    preflight(device_setting=snakemake.params.device, out=snakemake.output[0],
              simulators=snakemake.params.simulators)
