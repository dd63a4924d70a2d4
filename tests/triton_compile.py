"""Compile every Triton kernel of the fast simulator for an NVIDIA GPU, without one (run by test_simulator_gpu).

Usage: ``python tests/triton_compile.py [ARCH]`` (default 90: H100/H200), with
TRITON_INTERPRET unset and ``tests`` on the path. The launchers of
``analog_tl.simulator.gpu_ops`` are called on a reference case's CPU tensors
(:mod:`gpu_cases`) with the kernels' launch replaced by a recorder, so the
kernels are compiled with exactly the arguments and options a real launch
passes; Triton compiles them to PTX and ptxas (shipped with Triton) to a
cubin. Prints one JSON line per kernel: its name and what the PTX contains.
"""

from __future__ import annotations

import json
import re
import sys

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction, mangle_type

OPTIONS = ("enable_fp_fusion", "num_warps")


def record_launches() -> list[tuple[JITFunction, tuple, dict]]:
    """Run each launcher once on a reference case's CPU tensors, recording (kernel, args, kwargs), not launching."""
    from gpu_cases import cases

    from analog_tl.simulator import gpu_ops

    launches = []
    JITFunction.__getitem__ = lambda self, grid: lambda *args, **kwargs: launches.append((self, args, kwargs))
    case = cases()["updates"]["Table I, write noise"]
    (x, d), state = case["batches"][0], [t.clone() for t in case["initial"]]
    gpu_ops.cttv2_update(*state, x, d, case["config"], case["lr"], case["key"], 0)
    case = cases()["updates"]["AGAD, write and read noise, random chopper"]  # the transfer kernel's AGAD variant
    (x, d), state = case["batches"][0], [t.clone() for t in case["initial"]]
    gpu_ops.agad_update(*state[:10], x, d, case["config"], case["lr"], case["key"], 0, *state[10:])
    gpu_ops.io_prepare(torch.randn(2, 3), torch.arange(2), torch.ones(2), 0.01, 1.0)
    gpu_ops.io_finish(torch.randn(2, 3), torch.arange(2), torch.ones(2), 0.06, 0.01, 12.0, True, 3, 0, 1, 0)
    gpu_ops.philox_draws(3, 0, 1, 0, torch.arange(2), 5, True)
    return launches


def compile_launch(kernel: JITFunction, args: tuple, kwargs: dict, arch: int) -> dict:
    """Compile one recorded launch for ``sm_{arch}``; what its PTX holds."""
    options = {k: v for k, v in kwargs.items() if k in OPTIONS}
    values = dict(zip(kernel.arg_names, args)) | {k: v for k, v in kwargs.items() if k not in OPTIONS}
    signature, constexprs = {}, {}
    for param in kernel.params:
        if param.is_constexpr:
            signature[param.name], constexprs[param.name] = "constexpr", values[param.name]
        else:
            signature[param.name] = mangle_type(values[param.name])
    compiled = triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constexprs),
                              target=GPUTarget("cuda", arch, 32), options=options)
    ptx = compiled.asm["ptx"]
    return {
        "kernel": kernel.__name__ + (" (AGAD)" if values.get("AGAD") else ""),
        "cubin_bytes": len(compiled.asm["cubin"]),
        "fused_multiply_add": len(re.findall(r"\bfma\.", ptx)),
        "flush_to_zero": len(re.findall(r"\.ftz\b", ptx)),
        "approximate": len(re.findall(r"\.(approx|full)\.f32", ptx)),
        "division_rn": ptx.count("div.rn.f32"),
        "sqrt_rn": ptx.count("sqrt.rn.f32"),
    }


def main() -> None:
    arch = int(sys.argv[1]) if len(sys.argv) > 1 else 90
    for kernel, args, kwargs in record_launches():
        print(json.dumps(compile_launch(kernel, args, kwargs, arch)), flush=True)


if __name__ == "__main__":
    main()
