"""Restore a kept pre-training into a workflow folder (not a workflow step; run by hand between Snakemake calls).

A grid run in parts on different machines (``docs/results/real-cifar.md``, "A grid in parts") fine-tunes
every part from one pre-trained model when each new workflow folder restores the kept one instead of
pre-training again (pre-training is bit-reproducible per kind of CPU only: ``docs/reproducibility.md``)::

    .venv/bin/snakemake --configfile CONFIG [OVERLAY] --cores 2 results/data/pretrain.npz
    .venv/bin/python scripts/restore_pretraining.py --config CONFIG [OVERLAY] --from KEPT_RUN_FOLDER -- WORKFLOW_FOLDER
    .venv/bin/snakemake --configfile CONFIG [OVERLAY] --cores 2 ... (the part's targets)

It checks the kept model against its SHA-256, the config's ``model`` and ``pretrain`` sections against
the ones the kept run was made with, and the folder's prepared data against the data it read, then
copies the four run files into ``results/pretrain/`` (final.json last). Exit status 0 when restored or
already there, 2 on a problem (one line naming it; no final.json written, and a rerun finishes an
interrupted copy). A folder where a pre-training was started and killed is refused: Snakemake would run
it again under ``--rerun-incomplete``; ``--discard-unfinished`` deletes it and its marks, then restores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.training.shared_pretraining import restore_pretraining
from analog_tl.vocabulary import CONFIG_SCHEMA, PRETRAIN_RUN
from analog_tl.workflow_config import read_workflow_config

SCHEMA = Path(__file__).resolve().parents[1] / CONFIG_SCHEMA


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, nargs="+",
                        help="the workflow config of the folder (several: merged in order, as Snakemake does)")
    parser.add_argument("--from", required=True, type=Path, dest="source",
                        help="the kept pre-training run folder (model.pt, final.json, metrics.csv, run.json)")
    parser.add_argument("--discard-unfinished", action="store_true",
                        help="delete a pre-training started in the folder that did not finish (its files and "
                             "Snakemake's marks of its outputs as incomplete) instead of refusing")
    parser.add_argument("workflow", type=Path, help="the workflow folder, whose results/data/pretrain.npz exists")
    args = parser.parse_args(argv)
    try:
        restored = restore_pretraining(args.source, args.workflow, read_workflow_config(args.config, SCHEMA),
                                       discard_unfinished=args.discard_unfinished)
    except (AnalogTLError, OSError, yaml.YAMLError) as error:
        print(f"restore_pretraining: {first_line(error)}", file=sys.stderr)
        return 2
    what = "restored" if restored.copied else "already there:"
    print(f"restore_pretraining: {args.workflow / PRETRAIN_RUN}: {what} pre-training of model "
          f"{restored.model_sha256[:12]}… from {args.source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
