"""Analog transfer learning with c-TTv2: the library behind the Snakemake workflow."""

__version__ = "0.2.0"  # pyproject.toml reads it; the image label and file name follow it (tests/test_containers.py)
