"""Every backend, in one list: parity, bench, sample and eval filter it, so adding a runtime is one
module that declares its `BackendSpec`s, plus a line here (see base.py for the vocabulary)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from gan.errors import GanError
from gan.export.backends.aoti import AOTI
from gan.export.backends.base import (
    ArtifactMissing,
    Backend,
    BackendSpec,
    ModelSource,
    NotApplicable,
    Run,
    Training,
    Unavailable,
    Unsupported,
)
from gan.export.backends.chain import ChainBackend
from gan.export.backends.compile import COMPILE, COMPILE_STEP
from gan.export.backends.cudagraph import CUDAGRAPH
from gan.export.backends.eager import EAGER, EAGER_ONEDNN
from gan.export.backends.exported_program import EXPORTED_PROGRAM
from gan.export.backends.onnxruntime import (
    ONNXRUNTIME,
    ONNXRUNTIME_CUDAGRAPH,
    ONNXRUNTIME_IOBINDING,
    ONNXRUNTIME_NUMPY,
)
from gan.export.backends.openvino import OPENVINO
from gan.export.backends.torchscript import TORCHSCRIPT

# In the order tables list them: eager first, the reference every other row is compared with.
BACKENDS: tuple[BackendSpec, ...] = (
    EAGER,
    EAGER_ONEDNN,
    TORCHSCRIPT,
    EXPORTED_PROGRAM,
    AOTI,
    ONNXRUNTIME,
    ONNXRUNTIME_IOBINDING,
    ONNXRUNTIME_NUMPY,
    ONNXRUNTIME_CUDAGRAPH,
    OPENVINO,
    COMPILE,
    COMPILE_STEP,
    CUDAGRAPH,
)
NAMES = tuple(spec.name for spec in BACKENDS)


def backend_spec(name: str, among: tuple[BackendSpec, ...] = BACKENDS) -> BackendSpec:
    for spec in among:
        if spec.name == name:
            return spec
    raise GanError(f"unknown backend {name!r}; choose one of {', '.join(s.name for s in among)}")


def parity_backends(device: torch.device) -> list[BackendSpec]:
    """What export and verify check against eager on this device (an optional extra only where
    it is installed)."""
    return [
        spec
        for spec in BACKENDS
        if device.type in spec.parity_on and not (spec.optional and spec.problem(device) is not None)
    ]


def bench_backends(device: torch.device) -> list[BackendSpec]:
    """What `gan bench` runs on this device unless told otherwise."""
    return [spec for spec in BACKENDS if device.type in spec.bench_on]


def sample_backends() -> tuple[BackendSpec, ...]:
    """What may draw images for a user (sample, eval): the backends that parity proves."""
    return tuple(spec for spec in BACKENDS if spec.parity_on)


def build_backends(
    spec: BackendSpec,
    source: ModelSource,
    device: torch.device,
    precision: str = "fp32",
    failures: dict[str, Exception] | None = None,
    each: Callable[[str, Callable[[], Backend]], Backend] | None = None,
    **options,
) -> dict[str, Backend]:
    """`spec`'s backend in `precision` for every model of `source`, plus "chain" (D(G(z))) when
    there is a D. Raises Unavailable or NotApplicable (or GanError for a broken artifact, Unsupported
    for a model the runtime cannot take) when it cannot run. With `failures`, a model whose own
    build fails is left out and its error recorded there (and the chain's, when it needs it), so
    the other models still run. `each(model, build)` makes each model's backend by calling
    `build()`, so that a caller may time or weigh each load (bench does); by default it just builds."""
    if spec.forward is None:
        raise NotApplicable(spec.no_forward)
    if precision not in spec.precisions:
        raise NotApplicable(f"{spec.name} runs {', '.join(spec.precisions)}, not {precision}")
    if (problem := spec.problem(device)) is not None:
        raise Unavailable(problem)
    options = {**options, "precision": precision}
    built = {}
    for model in source.models:
        try:
            build = functools.partial(spec.forward, source, model, device, options)
            built[model] = each(model, build) if each is not None else build()
        except (GanError, Unsupported) as error:
            if failures is None:
                raise
            failures[model] = error
    if failures and "discriminator" in source.models:
        failures["chain"] = failures.get("generator") or failures["discriminator"]
    for backend in built.values():
        backend.precision = precision
        if precision != "fp32":  # "onnxruntime-int8-static": rows and comparisons keep them apart
            backend.name = f"{backend.name}-{precision}"
    if "discriminator" in built and "generator" in built:
        built["chain"] = ChainBackend(built["generator"], built["discriminator"], source.signature)
    return built


__all__ = [
    "ArtifactMissing",
    "BACKENDS",
    "NAMES",
    "Backend",
    "BackendSpec",
    "ModelSource",
    "NotApplicable",
    "Run",
    "Training",
    "Unavailable",
    "Unsupported",
    "backend_spec",
    "bench_backends",
    "build_backends",
    "parity_backends",
    "sample_backends",
]
