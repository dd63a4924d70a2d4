#!/usr/bin/env bash
# Set up the project-local environment .venv with every pinned dependency.
#
#   bash scripts/setup.sh
#
# - Python packages: exact pins from envs/requirements.txt (torch, torchvision,
#   timm, snakemake, pandas, matplotlib, ... and their dependencies).
# - aihwkit: built from its PyPI source release (SHA-256 checked) against the
#   pinned torch, because its C++ extension must match torch's ABI. The built
#   wheel is cached under $ANALOG_TL_CACHE (default ~/.cache/analog-tl) in a
#   folder keyed by the aihwkit, torch and Python versions, the machine and
#   the build-tool pins, so a second set-up takes seconds and a torch change
#   can never reuse a wheel built for another torch.
# - The fast simulator's C++ kernel (src/analog_tl/simulator/csrc): compiled
#   once into $ANALOG_TL_CACHE/kernels/cttv2-<hash of source content, flags, compiler,
#   torch and Python>, then loaded from there.
# - System packages for the build (g++, OpenBLAS headers) are installed with
#   apt-get when running as root; otherwise the script stops and names them.
# - An existing $ANALOG_TL_VENV is reused only if it was made with $PYTHON's
#   major.minor and installed from the present pins (the SHA-256 of
#   envs/requirements.txt and envs/requirements-build.txt, recorded in
#   $ANALOG_TL_VENV/.requirements-sha256 after a complete install); otherwise it
#   is rebuilt from scratch, which takes a minute or two since the aihwkit wheel
#   and the kernel stay cached. A folder that is not a virtual environment is
#   never deleted: the script stops instead.
#
# Environment: PYTHON (default python3.11), ANALOG_TL_CACHE, ANALOG_TL_VENV (default .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${ANALOG_TL_VENV:-$ROOT/.venv}
CACHE=${ANALOG_TL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/analog-tl}
AIHWKIT_VERSION=1.2.0
AIHWKIT_SHA256=288b00aed52a99f578a2e7ac46fdbf2a9f07e4780c4307eae5827558f1bf2cba
SYSTEM_PACKAGES=(g++ libopenblas-dev)
REQUIREMENTS=${ANALOG_TL_REQUIREMENTS:-envs/requirements.txt}
BUILD_REQUIREMENTS=envs/requirements-build.txt

SETUP_TMP=$(mktemp -d)
trap 'rm -rf "$SETUP_TMP"' EXIT

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

# --- system packages -------------------------------------------------------------------
ensure_system_packages() {
    command -v dpkg-query >/dev/null 2>&1 || {
        say "no dpkg: make sure a C++ compiler and OpenBLAS headers are installed (${SYSTEM_PACKAGES[*]} on Debian)"
        return
    }
    local missing=()
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing system packages: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}) and rerun"
    fi
}

# --- virtual environment ----------------------------------------------------------------
# pip never removes a package that is no longer pinned, and a stale one could shadow a
# pinned one, so a venv made with another Python or from other pins is rebuilt from
# scratch rather than installed over.
PINS_MARKER=.requirements-sha256

python_minor() { "$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# The major.minor of the Python that made $VENV, from its pyvenv.cfg (nothing is run).
venv_python_minor() {
    sed -n 's/^[[:space:]]*version\(_info\)\{0,1\}[[:space:]]*=[[:space:]]*\([0-9]\{1,\}\.[0-9]\{1,\}\).*/\2/p' \
        "$VENV/pyvenv.cfg" | head -n 1
}

# The SHA-256 of the requirements files, one a line; record_pins writes them (with the
# file names, as sha256sum does) into $VENV once everything is installed.
pins_hashes() { sha256sum "$REQUIREMENTS" "$BUILD_REQUIREMENTS" | cut -d' ' -f1; }
recorded_pins() { [ ! -f "$VENV/$PINS_MARKER" ] || cut -d' ' -f1 "$VENV/$PINS_MARKER"; }
record_pins() { sha256sum "$REQUIREMENTS" "$BUILD_REQUIREMENTS" > "$VENV/$PINS_MARKER"; }

# Why $VENV's recorded pins are not the present ones, for the message.
pins_difference() {
    [ -f "$VENV/$PINS_MARKER" ] || {
        echo "has no record of the pins it was installed from (made by an older scripts/setup.sh, or by a set-up that stopped before the end)"
        return
    }
    local now recorded changed
    mapfile -t now < <(pins_hashes)
    mapfile -t recorded < <(recorded_pins)
    [ "${now[0]}" = "${recorded[0]:-}" ] || changed="$REQUIREMENTS"
    [ "${now[1]}" = "${recorded[1]:-}" ] || changed="${changed:+$changed and }$BUILD_REQUIREMENTS"
    echo "was installed from other pins (${changed:-$VENV/$PINS_MARKER does not match}${changed:+ changed})"
}

# What $VENV is, one word: absent (create it), ok (reuse it), other-python, broken,
# other-pins (rebuild it) or not-a-venv (leave it alone and stop).
venv_state() {
    if [ ! -e "$VENV" ] && [ ! -L "$VENV" ]; then echo absent; return; fi
    if [ -d "$VENV" ] && [ ! -L "$VENV" ] && [ -z "$(ls -A "$VENV")" ]; then echo absent; return; fi
    if [ ! -d "$VENV" ] || ! grep -q '^[[:space:]]*home[[:space:]]*=' "$VENV/pyvenv.cfg" 2>/dev/null; then
        echo not-a-venv
    elif [ "$(venv_python_minor)" != "$(python_minor)" ]; then
        echo other-python
    elif [ ! -x "$VENV/bin/python" ]; then
        echo broken
    elif [ "$(recorded_pins)" != "$(pins_hashes)" ]; then
        echo other-pins
    else
        echo ok
    fi
}

rebuild_venv() {  # $1: the message saying why
    local real
    [ "$(venv_state)" != not-a-venv ] || die "refusing to delete $VENV: not a virtual environment"
    real=$(cd "$VENV" && pwd -P)
    [ "$real" != / ] && [ "$real" != "$(pwd -P)" ] || die "refusing to delete $VENV ($real)"
    say "$1"
    "$PYTHON" -m venv --clear "$real"   # empties the folder (a symlink's target), then makes the venv there
}

ensure_venv() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || die "$PYTHON is $("$PYTHON" --version 2>&1); this project pins its packages for Python 3.11"
    local state made
    state=$(venv_state)
    case $state in
        absent) say "creating $VENV"; "$PYTHON" -m venv "$VENV" ;;
        ok) say "reusing $VENV (Python $(python_minor), installed from the present pins)" ;;
        other-python)
            made=$(venv_python_minor)
            rebuild_venv "$VENV was made with Python ${made:-of an unknown version}, not $(python_minor): rebuilding it" ;;
        broken) rebuild_venv "$VENV has no working bin/python: rebuilding it" ;;
        other-pins)
            rebuild_venv "$VENV $(pins_difference): rebuilding it from scratch, so that no package that is no longer pinned stays (the aihwkit wheels and kernels cached under $CACHE are kept)" ;;
        not-a-venv)
            die "$VENV exists but is not a Python virtual environment (no pyvenv.cfg with a home line); not touching it: move it away or set ANALOG_TL_VENV to another folder" ;;
        *) die "unexpected state of $VENV: $state" ;;
    esac
}

pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q "$@"; }

pinned_version() { sed -n "s/^$1==\([^ ;]*\).*/\1/p" "$REQUIREMENTS" | head -n 1; }

# --- aihwkit, built against the pinned torch ----------------------------------------------
aihwkit_key() {
    local torch_version py_tag build_hash
    torch_version=$(pinned_version torch)
    py_tag=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    build_hash=$(sha256sum "$BUILD_REQUIREMENTS" | cut -c1-12)
    echo "aihwkit-${AIHWKIT_VERSION}_torch-${torch_version}_${py_tag}_$(uname -m)_cpu_build-${build_hash}"
}

build_aihwkit_wheel() {  # $1: destination folder
    local work="$SETUP_TMP/aihwkit"
    ensure_system_packages
    say "building aihwkit $AIHWKIT_VERSION from source against torch $(pinned_version torch) (about 4-10 minutes)"
    pip_install -r "$BUILD_REQUIREMENTS"
    "$VENV/bin/python" -m pip download --disable-pip-version-check -q --no-deps --no-binary aihwkit \
        --no-build-isolation -d "$work/sdist" "aihwkit==$AIHWKIT_VERSION"
    local sdist="$work/sdist/aihwkit-$AIHWKIT_VERSION.tar.gz"
    echo "$AIHWKIT_SHA256  $sdist" | sha256sum -c --quiet - || die "aihwkit source archive does not match its pinned SHA-256"
    # stubgen (mypy) must be on PATH; USE_CUDA=OFF: this is the CPU build.
    PATH="$VENV/bin:$PATH" USE_CUDA=OFF CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$VENV/bin/python" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation \
        --no-cache-dir -w "$work/wheel" "$sdist" > "$work/build.log" 2>&1 \
        || { tail -n 40 "$work/build.log" >&2; die "aihwkit build failed (log above)"; }
    mkdir -p "$(dirname "$1")"
    mv "$work/wheel" "$1.partial.$$" && mv "$1.partial.$$" "$1"   # appears whole or not at all
}

ensure_aihwkit() {
    local key wheel_dir marker="$VENV/.aihwkit-build-key"
    key=$(aihwkit_key)
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$key" ] && "$VENV/bin/python" -c 'import aihwkit' 2>/dev/null; then
        say "aihwkit $AIHWKIT_VERSION already installed ($key)"
        return
    fi
    wheel_dir="$CACHE/wheels/$key"
    if [ ! -d "$wheel_dir" ]; then
        build_aihwkit_wheel "$wheel_dir"
    else
        say "using cached aihwkit wheel $wheel_dir"
    fi
    pip_install --no-deps --force-reinstall "$wheel_dir"/aihwkit-*.whl
    echo "$key" > "$marker"
}

main() {
    ensure_system_packages
    ensure_venv
    say "installing pinned Python packages ($REQUIREMENTS)"
    pip_install -r "$REQUIREMENTS"
    ensure_aihwkit
    pip_install --no-deps --no-build-isolation -e .
    record_pins   # the venv now holds exactly these pins: a later run may reuse it
    say "building the fast simulator's c-TTv2 kernel (cached under $CACHE/kernels by a hash of its source content, flags, compiler, torch and Python)"
    ANALOG_TL_CACHE="$CACHE" "$VENV/bin/python" -m analog_tl.simulator.kernel >&2 \
        || die "building the c-TTv2 kernel failed (needs g++; log above)"
    "$VENV/bin/python" - <<'EOF'
import aihwkit, matplotlib, pandas, snakemake, timm, torch, torchvision
from aihwkit.simulator.rpu_base import cuda
print(f"[setup] torch {torch.__version__}, torchvision {torchvision.__version__}, aihwkit {aihwkit.__version__} "
      f"(CUDA build: {cuda.is_compiled()}), timm {timm.__version__}, snakemake {snakemake.__version__}")
EOF
    say "done in $((SECONDS - start)) s; environment: $VENV"
}

# Sourcing the script (as the tests do) defines the functions without running the set-up.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
