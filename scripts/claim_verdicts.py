"""Snakemake step: the paper's claims scored under the comparison protocol (rule claim_verdicts)."""

from analog_tl.steps.context import snakemake_step

with snakemake_step(snakemake):  # noqa: F821 (injected by Snakemake)
    from analog_tl.results.tables import write_verdicts

    write_verdicts(
        runs_csv=snakemake.input.runs,
        sweep_runs_csvs=list(snakemake.input.sweeps),
        out_claims=snakemake.output.claims,
        out_verdicts=snakemake.output.verdicts,
    )
