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


def first_line(error: BaseException) -> str:
    """``TypeName: first line of the message`` of ``error`` (for one-line reports)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
