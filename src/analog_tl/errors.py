"""The project's own error types: problems with a user's config, data, device or run.

A step that meets one of these stops with one line that names the problem
(:func:`analog_tl.steps.context.snakemake_step`); any other exception is a bug
or a resource problem and keeps its traceback in the job's log.
"""

from __future__ import annotations


class AnalogTLError(Exception):
    """Base class: an error whose message alone tells the user what to fix."""


class ConfigError(AnalogTLError, ValueError):
    """A setting that the library cannot honour (unknown key, model, device or field)."""


class DataError(AnalogTLError, ValueError):
    """The configured data cannot be used (missing, empty, malformed, too few images)."""


class ChecksumError(AnalogTLError, RuntimeError):
    """A file does not match the checksum recorded when it was written."""


# Configuration
class AnalogConfigError(ConfigError):
    """An analog setting names a device or field that aihwkit does not have."""


class SimulatorScopeError(AnalogConfigError):
    """The rpu_config asks for something the fast simulator does not compute."""


class CpuIsaError(ConfigError):
    """``compute.cpu_isa`` cannot be honoured on this machine or in this process."""


# Data
class DataSourceError(DataError):
    """The configured data cannot be read (missing, empty, malformed)."""


# Compute devices and kernels
class DeviceError(AnalogTLError, RuntimeError):
    """The requested compute device cannot be used."""


class KernelBuildError(AnalogTLError, RuntimeError):
    """The C++ kernel could not be compiled (no compiler, no ninja, or a compile error)."""


class KernelChoiceError(AnalogTLError, RuntimeError):
    """The requested kernel cannot compute on the tile's device."""


# Training and results
class DivergenceError(AnalogTLError, RuntimeError):
    """The training loss became NaN or infinite."""


class PartsError(AnalogTLError, ValueError):
    """Parts that cannot be merged: a missing table, disagreeing rows, or runs off the config's grid."""


def first_line(error: BaseException) -> str:
    """``TypeName: first line of the message`` of ``error`` (for one-line reports)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
