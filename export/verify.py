"""Parity: every backend that `parity_on` names, against the golden outputs that eager PyTorch
computed at export time. `gan export` runs it on what it just wrote; `gan verify` runs it from the
export dir alone, without the checkpoint or the Architecture, and when a comparison fails, finds
the first layer that diverges (gan.export.localize) if the eager model can be had.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import ModelSource, Unavailable, Unsupported, build_backends, parity_backends
from gan.export.formats import CODE_FORMATS
from gan.export.golden import extra_outputs, fixed_inputs, golden_inputs, load_golden, parity_cases
from gan.export.image_parity import ImageGates, check_image_parity
from gan.export.localize import Localization, eager_models, localize
from gan.export.manifest import effective_budget, effective_tolerances, manifest_signature, read_manifest
from gan.export.parity import (
    DEFAULT_TOLERANCES,
    DISTRIBUTION_BOUND,
    ERROR_STATS,
    Comparison,
    Rule,
    Tolerance,
    check_backends,
    failed,
)
from gan.export.precision import BUDGETS, FP32
from gan.export.verify_report import VerifyReport
from gan.files.atomic import check_writable, check_writable_dir
from gan.report.tables import model_label


@dataclass
class VerifyOptions:
    """How an export dir is checked: the Python API's one argument to `verify_export` besides the
    dir, and what `gan verify`'s options fill in.

    `atol`/`rtol` map an output name ("image", "probability", ...; "" for every output) to a
    tolerance that replaces the manifest's, looser or tighter. `error_stat` is Polygraphy's
    --check-error-stat. `min_psnr`/`min_ssim` gate G's images besides the element-wise rule.
    Layers are compared when a comparison fails, or always with `localize`; the eager model comes
    from `run_dir`, or else from the run dir the manifest names if its checkpoint still matches.
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    trust_code: bool = True
    atol: dict[str, float] = field(default_factory=dict)
    rtol: dict[str, float] = field(default_factory=dict)
    error_stat: str = "elemwise"
    error_quantile: float = 0.99
    min_psnr: float | None = None
    min_ssim: float | None = None
    localize: bool = False
    run_dir: Path | None = None
    grid_path: Path | None = None
    heatmap_dir: Path | None = None
    plot_dir: Path | None = None
    # Also run the AOTInductor package and the TorchScript file from a C++ program (gan.export.cpp_check).
    cpp: bool = False

    def rule(self, manifest: dict, precision: str = FP32) -> Rule:
        """fp32's rule: the manifest's tolerances with this command line's overrides. A variant's:
        its own budget from the manifest (never looser than the toolkit's), which the command
        line's overrides do not change."""
        if precision != FP32:
            budget = effective_budget(manifest, precision, BUDGETS[precision])
            tolerance = Tolerance(budget.atol, budget.rtol)
            by_device = {device: tolerance for device in DEFAULT_TOLERANCES}
            return Rule(by_device, error_stat=budget.error_stat, error_quantile=self.error_quantile)
        tolerances = effective_tolerances(manifest, DEFAULT_TOLERANCES)
        return Rule(tolerances, self.atol, self.rtol, self.error_stat, self.error_quantile)

    def check(self, manifest: dict) -> None:
        """Every option against the manifest, before any work: one GanError for the first wrong one."""
        if self.error_stat not in ERROR_STATS:
            raise GanError(
                f"unknown error statistic {self.error_stat!r}; choose one of {', '.join(ERROR_STATS)}"
            )
        if self.cpp and not self.trust_code:
            raise GanError(
                "--cpp loads the AOTInductor package and the TorchScript file, whose loading runs code; "
                "it cannot be combined with --untrusted"
            )
        if not 0 < self.error_quantile <= 1:
            raise GanError(f"--error-quantile must be in (0, 1], got {self.error_quantile}")
        outputs = sorted(set(output_names(manifest).values()))
        for option, given in (("--atol", self.atol), ("--rtol", self.rtol)):
            for name, value in given.items():
                if name and name not in outputs:
                    raise GanError(
                        f"{option} {name}:...: this export has no output {name!r} "
                        f"(its outputs: {', '.join(outputs)})"
                    )
                if not (math.isfinite(value) and value >= 0):
                    raise GanError(f"{option} must be a finite number >= 0, got {value}")
        for option, gate in (("--min-psnr", self.min_psnr), ("--min-ssim", self.min_ssim)):
            if gate is not None and not math.isfinite(gate):
                raise GanError(f"{option} must be a finite number, got {gate}")
        if self.grid_path is not None:
            check_writable(self.grid_path, parent_must_exist=True)
        for directory in (self.heatmap_dir, self.plot_dir):
            if directory is not None:
                check_writable_dir(directory)


def output_names(manifest: dict) -> dict[str, str]:
    """Each compared model's output name: "generator", "discriminator" and "chain" (D's)."""
    names = {model: described["outputs"][0]["name"] for model, described in manifest["models"].items()}
    if "discriminator" in names:
        names["chain"] = names["discriminator"]
    return names


def prove_parity(
    export_dir: Path,
    manifest: dict,
    golden: dict[str, torch.Tensor],
    options: VerifyOptions,
    eager: dict[str, nn.Module] | None = None,
) -> tuple[list[Comparison], list[dict]]:
    """Every parity backend on the CPU, and on `options.device` too when it is CUDA, against
    golden; the fixed-noise grids side by side into `options.grid_path` when given.

    Eager is checked only when its modules are given. A backend that cannot run here (e.g. ORT
    CUDA without onnxruntime-gpu) raises EnvironmentMissing, since the user asked for that device.
    TorchScript is skipped unless `options.trust_code`."""
    source = ModelSource(export_dir, manifest, eager, trust_code=options.trust_code)
    cases = checked_cases(source)
    backends, comparisons = [], []
    for spec, device, precision in planned_backends(source, options.device):
        failures: dict[str, Exception] = {}  # a model this backend cannot build: its rows say why
        try:
            built = build_backends(spec, source, device, precision, failures)
        except Unavailable as error:
            raise EnvironmentMissing(f"cannot check {spec.name} on {device}: {error}") from None
        backends += [(key, built[model]) for key, model, _ in cases if model in built]
        for model, error in failures.items():
            failed_cases = [case for case in cases if case[1] == model]
            comparisons += _rows_not_run(spec.name, device, precision, failed_cases, manifest, options, error)
    try:
        inputs = {key: golden_inputs(golden, source.signature, key) for key, _, _ in cases}
        expected = {key: golden[f"{key}.output"] for key, _, _ in cases}
        extras = {key: extra_outputs(golden, manifest, key) for key, _, _ in cases}
        fixed, fixed_images = fixed_inputs(golden, source.signature), golden["fixed_images"]
    except KeyError as error:
        raise GanError(f"{manifest['golden']['file']} lacks {error}; re-run gan export") from None
    random = frozenset({"generator"} if source.signature.stochastic else ())
    for precision in (FP32, *source.variants()):  # each precision held to its own rule
        comparisons += check_backends(
            [(key, backend) for key, backend in backends if backend.precision == precision],
            inputs,
            expected,
            options.rule(manifest, precision),
            manifest["golden"]["batches"],
            by_distribution=random,
            outputs=output_names(manifest),
            extras=extras,
        )
    if random:  # two runs of a stochastic G draw different pictures: nothing to compare pixel by pixel
        return comparisons, []
    grid_case = cases[0][0]  # the generator, at its first size: where the fixed grid is drawn
    generators = [b for key, b in backends if key == grid_case]
    gates = ImageGates(options.min_psnr, options.min_ssim)
    images = check_image_parity(
        generators, fixed, fixed_images, options.grid_path, gates, options.heatmap_dir
    )
    return comparisons, images


def _rows_not_run(
    backend: str, device, precision: str, cases, manifest: dict, options: VerifyOptions, error: Exception
) -> list[Comparison]:
    """The rows of a backend that could not be built: "error" with the reason (its file failed to
    export or to load), or "unsupported" (the runtime cannot take this model)."""
    name = backend if precision == FP32 else f"{backend}-{precision}"
    rule, outputs = options.rule(manifest, precision), output_names(manifest)
    unsupported = isinstance(error, Unsupported)
    rows = []
    for key, model, _ in cases:
        output = outputs.get(model, "")
        for batch in manifest["golden"]["batches"]:
            labels = dict(model=key, backend=name, device=str(device), batch=batch, output=output)
            tolerance = rule.tolerance(torch.device(device).type, output)
            rows.append(failed({**labels, "precision": precision}, tolerance, str(error), unsupported))
    return rows


def checked_cases(source: ModelSource) -> list[tuple[str, str, tuple[int, int] | None]]:
    """The golden cases parity compares (gan.export.golden.parity_cases). A random G is compared
    by distribution, and D on its own golden inputs; D on a random G's images has too little
    spread of its own for a distribution to say anything, so a stochastic chain is left out."""
    cases = parity_cases(source.signature, "discriminator" in source.models)
    return [case for case in cases if not (source.signature.stochastic and case[1] == "chain")]


def planned_backends(source: ModelSource, device: torch.device) -> list:
    """(BackendSpec, device, precision) of every backend parity checks: on the CPU, and on
    `device` too when it is CUDA; eager only with the modules, TorchScript only when its code is
    trusted; then each of the export's precision variants on every backend that reads them."""
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    exported = source.exported_formats()
    specs = [
        (spec, dev)
        for dev in devices
        for spec in parity_backends(dev)
        if not (spec.name == "eager" and source.eager is None)
        and not (spec.reads in CODE_FORMATS and not source.trust_code)
        and (spec.reads is None or spec.reads in exported)  # a format the export was made without
    ]
    return [
        (spec, dev, precision)
        for precision in (FP32, *source.variants())
        for spec, dev in specs
        if precision in spec.precisions
    ]


def planned_checks(export_dir: str | Path, options: VerifyOptions) -> list[tuple]:
    """What `verify_export` will compare, without running anything: (model key, backend, device,
    batch) per comparison and ("image", backend, device) per image check, in its order."""
    manifest = read_manifest(export_dir)
    options.check(manifest)
    source = ModelSource(Path(export_dir), manifest, None, trust_code=options.trust_code)
    cases = checked_cases(source)
    planned, images = [], []
    for spec, device, precision in planned_backends(source, options.device):
        name = spec.name if precision == FP32 else f"{spec.name}-{precision}"
        planned += [(key, name, str(device), b) for key, _, _ in cases for b in manifest["golden"]["batches"]]
        if not source.signature.stochastic:
            images.append(("image", name, str(device)))
    return planned + images


def verify_export(export_dir: str | Path, options: VerifyOptions | None = None) -> VerifyReport:
    """The Python API of `gan verify`: parity from the manifest and golden I/O alone (no
    checkpoint, no Architecture), and where it fails, the first diverging layer."""
    options = options or VerifyOptions()
    started = time.perf_counter()
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    options.check(manifest)
    eager, note = None, ""
    if options.run_dir is not None or options.localize:  # a wrong --run is refused before any work
        eager, note = eager_models(manifest, options.run_dir, options.trust_code)
    golden = load_golden(export_dir / manifest["golden"]["file"], manifest_signature(manifest))
    comparisons, images = prove_parity(export_dir, manifest, golden, options)
    if options.cpp:
        from gan.export.cpp_check import cpp_comparisons  # builds a C++ program: only when asked

        comparisons += cpp_comparisons(
            export_dir, manifest, golden, options.rule(manifest), output_names(manifest)
        )
    localizations: list[Localization] = []
    if options.localize or not all(c.passed for c in comparisons):
        if eager is None and not note:
            eager, note = eager_models(manifest, None, options.trust_code)
        if eager is not None:
            source = ModelSource(export_dir, manifest, eager, trust_code=options.trust_code)
            localizations = localize_comparisons(
                source, golden, comparisons, options, everything=options.localize
            )
    return VerifyReport(
        export_dir=export_dir,
        manifest=manifest,
        comparisons=comparisons,
        image_checks=images,
        localizations=localizations,
        localization_note=note,
        rule=options.rule(manifest),
        options=options,
        seconds=time.perf_counter() - started,
    )


def localize_comparisons(
    source: ModelSource,
    golden: dict[str, torch.Tensor],
    comparisons: list[Comparison],
    options: VerifyOptions,
    everything: bool = False,
) -> list[Localization]:
    """The first diverging layer of every (model, backend, device) with a failed comparison (of
    every one, with `everything`). A failed chain D(G(z)) is looked for in G: D's own comparisons,
    on D's own golden inputs, say whether D diverges too."""
    failed: dict[tuple[str, str, str], bool] = {}  # (model, backend, device) -> whether one failed
    for c in comparisons:
        # A variant's error is everywhere by design (quantization): localization is for fp32.
        # A row that did not run (its file failed to export or to load) has no layers to compare.
        # The C++ rows (aoti-cpp, torchscript-cpp) ran outside this process: no layers to hook.
        skip = c.error or c.check == "distribution" or c.precision != FP32 or c.backend.endswith("-cpp")
        if (c.passed and not everything) or skip:
            continue
        model = c.model.split("@")[0]
        key = ("generator" if model == "chain" else model, c.backend, c.device)
        failed[key] = failed.get(key, False) or not c.passed
    rule, outputs = options.rule(source.manifest), output_names(source.manifest)
    found = []
    for (model, backend, device), any_failed in failed.items():
        try:
            where = localize(
                source, golden, model, backend, torch.device(device), rule, outputs[model], options.plot_dir
            )
        except GanError as error:  # the runtime could not load its copy with every output marked
            where = Localization(model, backend, device, note=f"its layers could not be compared: {error}")
        where.failed = any_failed
        found.append(where)
    return found


def untrusted_note(manifest: dict) -> str:
    """Which files --untrusted left unloaded, and why: "" when none."""
    skipped = [
        described["files"][fmt]
        for described in manifest["models"].values()
        for fmt in CODE_FORMATS
        if fmt in described["files"]
    ]
    if not skipped:
        return ""
    return (
        f"--untrusted: not loaded {', '.join(skipped)}: TorchScript and ExportedProgram files are "
        "unpickled and AOTInductor packages hold a shared library, so loading them runs code"
    )


def call_notes(manifest: dict) -> list[str]:
    """What the exported models were called with beyond their inputs (fixed and default keyword
    arguments, baked into the files), and how a stochastic G is compared: lines for `gan verify`."""
    notes = []
    for model, described in manifest["models"].items():
        baked = described.get("baked_arguments") or {}
        if baked:
            notes.append(f"{model} exported with " + ", ".join(f"{k}={v}" for k, v in baked.items()))
    if manifest_signature(manifest).stochastic:
        notes.append(
            "the generator is stochastic: compared by distribution (mean and std within "
            f"{DISTRIBUTION_BOUND:.0%} of the reference's std); the chain D(G(...)) is not compared"
        )
    return notes


def failed_parity(manifest: dict) -> list[str]:
    """The comparisons an export failed when it was made, as "G on onnxruntime (cpu) at batch 64"."""
    return [
        f"{model_label(c['model'])} on {c['backend']} ({c['device']}) at batch {c['batch']}"
        for c in manifest.get("parity", [])
        if isinstance(c, dict) and not c.get("passed", True) and c.get("precision", FP32) == FP32
    ]


def parity_gate(manifest: dict, strict: bool, warn) -> None:
    """An export that failed parity is used with a warning naming what failed, or, with
    `strict`, refused."""
    if not (failed := failed_parity(manifest)):
        return
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    line = f"this export failed parity when it was made ({shown}); its outputs may not be the model's"
    if strict:
        raise GanError(f"{line} (--strict refuses it)")
    warn(line)
