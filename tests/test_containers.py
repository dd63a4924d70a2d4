"""Static checks of the Apptainer definition and the conda environment (neither can be built here).

Apptainer cannot be installed on these machines and conda channels are
unreachable: these tests parse the files (spython for the definition) and
check that they are pinned and agree with the project's own pins.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from spython.main.parse.parsers import SingularityParser

from analog_tl.vocabulary import CONFIG_SCHEMA

REPO = Path(__file__).resolve().parents[1]
DEF = REPO / "containers" / "analog-tl.def"
def _normalise(name: str) -> str:
    """PyPI project names compare case-insensitively, with - and _ alike."""
    return re.sub(r"[-_.]+", "-", name).lower()


PINS = {
    _normalise(line.split("==", 1)[0]): line.split("==", 1)[1]
    for line in (REPO / "envs" / "requirements.txt").read_text().splitlines()
    if "==" in line and not line.startswith("#")
}
SETUP = (REPO / "scripts" / "setup.sh").read_text()
VERSION = re.search(r'__version__ = "([^"]+)"', (REPO / "src" / "analog_tl" / "__init__.py").read_text()).group(1)


@pytest.fixture(scope="module")
def recipe():
    (stage,) = SingularityParser(str(DEF)).recipe.values()
    return stage


def _setup_value(name: str) -> str:
    return re.search(rf"^{name}=(\S+)$", SETUP, re.MULTILINE).group(1)


def test_base_image_is_pinned_by_tag_and_digest(recipe):
    assert re.fullmatch(r"nvidia/cuda:13\.0\.\d+-devel-ubuntu22\.04@sha256:[0-9a-f]{64}", recipe.fromHeader)


def test_image_installs_exactly_the_project_pins(recipe):
    assert "envs/requirements.txt /opt/analog-tl/envs/requirements.txt" in recipe.files
    assert "envs/requirements-build.txt /opt/analog-tl/envs/requirements-build.txt" in recipe.files
    install = "\n".join(recipe.install)
    assert "$PIP -r /opt/analog-tl/envs/requirements.txt" in install
    assert "$PIP -r /opt/analog-tl/envs/requirements-build.txt" in install
    assert "python3.11 -m venv" in install  # the Python the pins are for


def test_aihwkit_is_built_from_the_checked_source_release_with_cuda_unless_switched_off(recipe):
    text = DEF.read_text()
    assert f"AIHWKIT_VERSION={_setup_value('AIHWKIT_VERSION')}" in text
    assert f"AIHWKIT_SHA256={_setup_value('AIHWKIT_SHA256')}" in text
    install = "\n".join(recipe.install)
    assert "sha256sum -c -" in install
    assert "-DUSE_CUDA={{ AIHWKIT_CUDA }}" in install and "-DRPU_CUDA_ARCHITECTURES=" in install
    assert "AIHWKIT_CUDA=ON" in text.split("%arguments", 1)[1].split("\n%", 1)[0]  # the default: CUDA too
    assert "--no-build-isolation --no-deps aihwkit-" in install  # against the pinned torch already installed


def test_labels_name_the_versions_that_the_pins_and_the_config_default_use(recipe):
    labels = dict(label.split(" ", 1) for label in recipe.labels)
    for package in ("torch", "torchvision", "timm", "snakemake"):
        assert labels[package] == PINS[package], package
    assert labels["aihwkit"] == _setup_value("AIHWKIT_VERSION")
    assert labels["org.opencontainers.image.version"] == VERSION
    schema = yaml.safe_load((REPO / CONFIG_SCHEMA).read_text())
    assert schema["properties"]["container"]["default"] == f"containers/analog-tl_{VERSION}.sif"
    assert f"apptainer build containers/analog-tl_{VERSION}.sif containers/analog-tl.def" in DEF.read_text()


def test_environment_test_and_help_sections(recipe):
    environ = "\n".join(recipe.environ)
    assert "PYTHONNOUSERSITE=1" in environ
    for cache in ("MPLCONFIGDIR=", "XDG_CACHE_HOME=", "TORCH_HOME="):
        assert cache in environ
    text = DEF.read_text()
    test = text.split("%test", 1)[1].split("\n%", 1)[0]
    assert "cuda.is_compiled()" in test and "torch.cuda.is_available()" in test and "gpu_ops" in test
    assert "import analog_tl" in test
    assert "%help" in text and "apptainer test --nv" in text


def test_conda_environment_parses_and_agrees_with_the_pins():
    env = yaml.safe_load((REPO / "envs" / "analog-tl.yaml").read_text())
    conda = {d.split("=", 1)[0]: d.split("=", 1)[1] for d in env["dependencies"] if isinstance(d, str)}
    assert conda["python"] == "3.11"
    assert conda["pytorch"] == PINS["torch"] and conda["torchvision"] == PINS["torchvision"]
    assert conda["aihwkit"] == _setup_value("AIHWKIT_VERSION")
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    pinned = {_normalise(p.split("==", 1)[0]): p.split("==", 1)[1] for p in pip if "==" in p}
    assert pinned and all(PINS[name] == version for name, version in pinned.items()), pinned
    assert {"snakemake", "timm", "pandas", "matplotlib"} <= set(pinned)
    text = (REPO / "envs" / "analog-tl.yaml").read_text()
    assert "CONDA_OVERRIDE_CUDA" in text and "aihwkit-gpu" in text
    assert env["channels"] == ["conda-forge", "nodefaults"]


def test_step_scripts_import_the_library_from_the_repository_when_the_environment_lacks_it():
    """What `--sdm conda` relies on: the env does not install analog_tl; Snakemake appends scripts/ to sys.path."""
    assert "-e " not in (REPO / "envs" / "analog-tl.yaml").read_text().split("dependencies:", 1)[1]
    link = REPO / "scripts" / "analog_tl"
    assert link.is_symlink() and link.resolve() == (REPO / "src" / "analog_tl").resolve()
    site_packages = sysconfig.get_paths()["purelib"]
    code = (  # -S: no site module, so no .pth file puts src/ (the editable install) on the path
        f"import sys; sys.path += [{site_packages!r}, {str(REPO / 'scripts')!r}]; "
        "import analog_tl.steps.context, analog_tl; print(analog_tl.__file__)"
    )
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(REPO / "scripts" / "analog_tl" / "__init__.py")


def test_the_image_runs_the_bound_checkouts_library_not_a_copy(recipe):
    """The image installs no analog_tl: steps import the checkout's src/ (scripts/analog_tl); kernels are prebuilt."""
    install = "\n".join(recipe.install)
    assert "$PIP --no-deps /opt/analog-tl" not in install and "pip install -e" not in install
    assert not re.search(r"\$PIP[^\n]*/opt/analog-tl\s*$", install, re.MULTILINE)  # no install of the project folder
    assert "PYTHONPATH=/opt/analog-tl/src ANALOG_TL_CACHE=/opt/analog-tl/cache" in install  # kernel built at build time
    packages = install.split("apt-get install", 1)[1].split("rm -rf", 1)[0].split()
    assert "git" in packages  # the code record (run.json: project.git) reads the commit with git
    environ = "\n".join(recipe.environ)
    assert "ANALOG_TL_KERNELS=/opt/analog-tl/cache/kernels" in environ  # read-only prebuilt kernels
    assert "ANALOG_TL_CACHE=" not in environ  # the writable cache stays under XDG_CACHE_HOME
