"""Which layer diverges first: a failing backend's per-layer outputs against eager's, on the
golden inputs, walked in the order the layers run (gan.export.layers captures them).

The first layer whose output breaks the comparison's rule is named with its error, the error of
the layer just before it, and the op the runtime ran for it; a small plot shows every layer's
error against the tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.errors import GanError
from gan.export.backends import ModelSource
from gan.export.backends.torchscript import load_torchscript
from gan.export.golden import golden_inputs
from gan.export.layers import (
    EagerLayer,
    RuntimeOutput,
    eager_layers,
    onnx_layer_outputs,
    torchscript_layer_outputs,
)
from gan.export.model_io import input_names
from gan.export.parity import Rule, compare
from gan.models.inputs import as_called
from gan.report.parity_pictures import plot_layer_errors
from gan.runs.checkpoint import CHECKPOINT_JSON
from gan.runs.trained import load_trained_run

# The runtimes that can show their layers' outputs.
LOCALIZABLE = ("onnxruntime", "openvino", "torchscript")
# Golden rows run through the layers: enough for any error a layer makes to show, few enough that
# every layer's input and output of a large model fit in memory at once.
LOCALIZE_BATCH = 8


@dataclass(frozen=True)
class LayerError:
    """One layer's output against eager's: `layer` names it as `model.path (Class)`."""

    layer: str
    op: str
    max_abs: float
    median_abs: float
    min_passing_atol: float
    passed: bool
    fused: tuple[str, ...] = ()  # layers the exporter folded into this one (no output of their own)


@dataclass
class Localization:
    """Where a (model, backend, device) first diverges from eager, or why that cannot be said."""

    model: str
    backend: str
    device: str
    layers: list[LayerError] = field(default_factory=list)
    first: int | None = None  # index into `layers` of the first that diverges
    plot: str | None = None
    note: str = ""  # why no layer could be compared
    failed: bool = False  # a comparison of this model on this backend failed

    @property
    def first_layer(self) -> LayerError | None:
        return None if self.first is None else self.layers[self.first]

    def summary(self) -> str:
        """One line: the first diverging layer and the error before it, or that none diverges."""
        where = f"{self.model} on {self.backend} ({self.device})"
        if self.note:
            return f"{where}: {self.note}"
        first = self.first_layer
        if first is None and self.failed:
            return (
                f"{where}: no layer diverges from the eager model on the first {LOCALIZE_BATCH} golden "
                f"inputs ({len(self.layers)} layer outputs within tolerance), so the mismatch is not "
                "in one layer: the golden outputs differ from the model (was golden.npz changed?), or "
                "it shows only at other batch sizes"
            )
        if first is None:
            return f"{where}: no layer diverges ({len(self.layers)} layer outputs within tolerance)"
        fused = f", with {', '.join(first.fused)} fused into it" if first.fused else ""
        line = (
            f"{where}: first diverging layer {first.layer}, run as {first.op}{fused}: "
            f"max abs {first.max_abs:.2e}, needs atol >= {first.min_passing_atol:.2e}"
        )
        if self.first:
            before = self.layers[self.first - 1]
            line += f"; the layer before, {before.layer}, max abs {before.max_abs:.2e}"
        return line

    def to_dict(self) -> dict:
        return asdict(self)


def localize(
    source: ModelSource,
    golden: dict[str, torch.Tensor],
    model: str,
    backend: str,
    device: torch.device,
    rule: Rule,
    output: str,
    plot_dir: Path | None = None,
) -> Localization:
    """`backend`'s `model` ("generator" or "discriminator") on `device`, layer by layer against
    the eager modules of `source`, on the golden inputs of the model's first case."""
    found = Localization(model, backend, str(device))
    if backend.split("-")[0] not in LOCALIZABLE:
        found.note = f"layers can be compared on {' and '.join(LOCALIZABLE)} only, not {backend}"
        return found
    signature = source.signature
    key = next(k for k in golden_keys(golden) if k.split("@")[0] == model)
    inputs = tuple(x[:LOCALIZE_BATCH] for x in golden_inputs(golden, signature, key))
    layers = eager_layers(source.module(model).cpu(), inputs)
    if backend == "torchscript":
        traced = load_torchscript(source.artifact(model, "torchscript"), device)
        outputs = torchscript_layer_outputs(traced, device, layers)
    else:
        names = input_names(signature, model)
        runtime = backend.split("-")[0]
        outputs = onnx_layer_outputs(source.artifact(model, "onnx"), device, names, inputs, layers, runtime)
    tolerance = rule.tolerance(device.type, output)
    measure = _measure(tolerance, rule, labels=dict(model=model, backend=backend, device=str(device)))
    found.layers = [
        LayerError(_name(model, chosen), ran.op, *measure(ran, chosen), tuple(_name(model, f) for f in fused))
        for ran, chosen, fused in matched_layers(layers, outputs, measure)
    ]
    if not found.layers:
        found.note = "no layer output of the runtime could be matched to an eager layer"
        return found
    found.first = next((i for i, layer in enumerate(found.layers) if not layer.passed), None)
    if plot_dir is not None:
        found.plot = str(_plot(found, tolerance.atol, Path(plot_dir)))
    return found


def matched_layers(
    layers: list[EagerLayer], outputs: dict[str, RuntimeOutput], measure
) -> list[tuple[RuntimeOutput, EagerLayer, list[EagerLayer]]]:
    """(runtime value, the eager layer it is the output of, the layers fused into that one), in
    the order the layers run.

    Layers with no value of their own were fused by the exporter into a neighbour: the dynamo
    exporter names a fused convolution + BatchNorm after the BatchNorm, the legacy one after the
    convolution. So a value is matched to whichever of its own layer and the value-less layers
    after it it is closest to; the value-less layers passed on the way are named as fused."""
    matched, pending, placed = [], [], set()
    for index, layer in enumerate(layers):
        if layer.path in placed:
            continue
        if layer.path not in outputs:
            pending.append(layer)
            continue
        ran = outputs[layer.path]
        group = [layer]
        for later in layers[index + 1 :]:
            if later.path in outputs:
                break
            group.append(later)
        candidates = [c for c in group if tuple(c.output.shape) == tuple(ran.output.shape)]
        if not candidates:
            pending = []
            continue
        chosen = min(candidates, key=lambda c: measure(ran, c)[0])
        passed_by = group[: group.index(chosen)]
        matched.append((ran, chosen, [*pending, *passed_by]))
        placed.update(c.path for c in [*passed_by, chosen])
        pending = []
    return matched


def _measure(tolerance, rule: Rule, labels: dict):
    """(max abs, median abs, min passing atol, passed) of a runtime value against a layer's output."""

    def measure(ran: RuntimeOutput, layer: EagerLayer) -> tuple[float, float, float, bool]:
        error = compare(
            ran.output, layer.output, tolerance, rule.error_stat, rule.error_quantile, batch=0, **labels
        )
        return error.max_abs, error.median_abs, error.min_passing_atol, error.passed

    return measure


def eager_models(
    manifest: dict, run_dir: Path | None, trust_code: bool
) -> tuple[dict[str, nn.Module] | None, str]:
    """The eager modules that localization compares layers with, as the export called them, or
    None and the reason. A `run_dir` given by the user must be the export's own, or GanError."""
    source = manifest.get("source") or {}
    how = "pass --run RUN_DIR, the run dir this export was made from"
    if not trust_code:
        return None, "comparing layers runs the model's Python code, which --untrusted refuses"
    given = run_dir is not None
    run_dir = Path(run_dir) if given else Path(source["run_dir"]) if source.get("run_dir") else None
    if run_dir is None:
        return None, f"comparing layers needs the eager model: {how}"
    problem = None
    if not (run_dir / CHECKPOINT_JSON).is_file():
        problem = f"{run_dir} is not a run dir (no {CHECKPOINT_JSON})"
    else:
        try:
            run = load_trained_run(run_dir)
        except GanError as error:
            problem = f"{run_dir} cannot be loaded: {error}"
        else:
            if run.checkpoint.tensor_sha256 != source.get("checkpoint_sha256"):
                problem = f"the checkpoint in {run_dir} is not the one this export was made from"
    if problem and given:
        raise GanError(f"--run: {problem}")
    if problem:
        return None, f"comparing layers needs the eager model, but {problem}: {how}"
    signature = run.architecture.signature
    models = {"generator": run.generator, "discriminator": run.discriminator}
    return {
        name: as_called(signature, name, m.cpu().eval()) for name, m in models.items() if m is not None
    }, ""


def golden_keys(golden: dict[str, torch.Tensor]) -> list[str]:
    """The golden cases' keys ("generator", "discriminator@32x32", ...), in the file's order."""
    keys = []
    for name in golden:
        if ".input." in name and (key := name.split(".input.")[0]) not in keys:
            keys.append(key)
    return keys


def _name(model: str, layer: EagerLayer) -> str:
    # A G called with fixed keyword arguments is wrapped (gan.models.inputs.WithKeywords) as "module".
    return f"{model}.{layer.path.removeprefix('module.')} ({layer.kind})"


def _plot(found: Localization, atol: float, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"layers-{found.model}-{found.backend}-{found.device.split(':')[0]}.png"

    def short(name: str) -> str:
        return name.split(" (")[0].removeprefix(f"{found.model}.")

    plot_layer_errors(
        ["+".join(short(name) for name in (*layer.fused, layer.layer)) for layer in found.layers],
        [layer.max_abs for layer in found.layers],
        atol,
        path,
        f"{found.model} on {found.backend} ({found.device}): error of each layer vs eager",
        found.first,
    )
    return path
