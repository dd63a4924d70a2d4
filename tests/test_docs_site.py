"""The documentation site builds offline with ``mkdocs build --strict``: a broken link, a missing anchor or a
page left out of the build fails here, and the configuration reference is generated from the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build(site: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(site)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_site_builds_strict_with_every_page(tmp_path):
    site = tmp_path / "site"
    result = _build(site)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index.html", "getting-started/index.html", "simulator/index.html", "reference/api/index.html",
                 "reference/configuration/index.html", "results/index.html", "results/real-small/index.html"):
        assert (site / page).is_file(), f"the site lacks {page}"
    reference = (site / "reference" / "configuration" / "index.html").read_text()
    assert "fast_lrs" in reference and "transfer_noise" in reference, "the configuration reference lacks keys"
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "AnalogSGD" in api and "from_aihwkit" in api, "the API page lacks the simulator's public names"


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The build is the check: a page that links to a missing page must make it fail (in a copy of the docs)."""
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy2(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    for name in ("docs", "scripts", "src", "workflow"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    page = copy / "docs" / "testing.md"
    page.write_text(page.read_text() + "\nSee [a page that is not there](no-such-page.md).\n")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")]
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "no-such-page.md" in result.stdout + result.stderr


def test_the_citation_file_names_this_version():
    """CITATION.cff (which the README points at) is valid YAML of CFF 1.2.0 and names the package's version."""
    import yaml

    from analog_tl import __version__

    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["version"] == __version__
    assert {"title", "authors", "message", "license"} <= set(citation)
    assert all(reference["title"] and reference["authors"] for reference in citation["references"])
