"""Numerical parity: each backend's outputs against the eager reference, by Polygraphy's rule.

By default an element fails only if |a - b| > atol AND |a - b| / (|b| + eps) > rtol; a `Rule` may
instead hold one statistic of the errors (max, mean, median or a quantile) to the tolerances, as
Polygraphy's --check-error-stat does. For every comparison we keep max / mean / median absolute
and relative error and the smallest atol that would have passed at the given rtol, so a failure
says by how much.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
from rich import box
from rich.table import Table

from gan.export.backends import Backend
from gan.export.golden import PARITY_BATCHES
from gan.report.tables import model_label

EPS = 1e-12


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


# fp32 on CPU: every backend runs the same kernels up to reassociation.
# CUDA: cuDNN convolutions and ONNX Runtime's CUDA kernels may use TF32 (10-bit mantissa) and
# other reduction orders, so errors of a few 1e-4 are normal there.
DEFAULT_TOLERANCES = {"cpu": Tolerance(atol=1e-5, rtol=1e-4), "cuda": Tolerance(atol=2e-3, rtol=1e-2)}

# Polygraphy's --check-error-stat: "elemwise" holds every element to the tolerances; the others
# hold one statistic of the absolute and of the relative error to them.
ERROR_STATS = ("elemwise", "max", "mean", "median", "quantile")


@dataclass(frozen=True)
class Rule:
    """How close is close enough: a tolerance per device type (the manifest's, which may only
    tighten the toolkit's), overridden per output name from the command line ("" for every
    output), and the error statistic held to them, as in Polygraphy."""

    by_device: Mapping[str, Tolerance] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    atol: Mapping[str, float] = field(default_factory=dict)
    rtol: Mapping[str, float] = field(default_factory=dict)
    error_stat: str = "elemwise"
    error_quantile: float = 0.99

    def tolerance(self, device_type: str, output: str) -> Tolerance:
        base = self.by_device[device_type]
        return Tolerance(
            atol=self.atol.get(output, self.atol.get("", base.atol)),
            rtol=self.rtol.get(output, self.rtol.get("", base.rtol)),
        )


@dataclass(frozen=True)
class Comparison:
    model: str
    backend: str
    device: str
    batch: int
    atol: float
    rtol: float
    max_abs: float
    mean_abs: float
    median_abs: float
    max_rel: float
    mean_rel: float
    median_rel: float
    # The smallest atol that would have passed at this rtol, under the statistic checked.
    min_passing_atol: float
    passed: bool
    error: str = ""
    # The error statistic held to the tolerances (ERROR_STATS), or "distribution" for a stochastic
    # G: mean and standard deviation of the outputs, which two runs of a random model share while
    # no value agrees.
    check: str = "elemwise"
    output: str = ""  # the output's name in the manifest ("image", "probability", ...)
    precision: str = "fp32"  # the file or runtime precision compared (gan.export.precision)
    quantile: float | None = None  # with check "quantile": q, and that quantile of each error
    quantile_abs: float | None = None
    quantile_rel: float | None = None
    # The runtime cannot take this model (an operator or dynamic shape it lacks; `error` says
    # which): reported as "unsupported here", which is not a parity failure.
    unsupported: bool = False

    @property
    def status(self) -> str:
        """ "pass", "FAIL" (outside the tolerances), "error" (it did not run) or "unsupported"."""
        if self.unsupported:
            return "unsupported"
        if self.error:
            return "error"
        return "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        return asdict(self) | {"status": self.status}


def compare(
    actual: torch.Tensor,
    expected: torch.Tensor,
    tolerance: Tolerance,
    error_stat: str = "elemwise",
    error_quantile: float = 0.99,
    **labels,
) -> Comparison:
    actual, expected = _aligned(actual, expected)
    abs_err = (actual - expected).abs().flatten()
    rel_err = abs_err / (expected.abs().flatten() + EPS)
    # NaN or inf on either side is a mismatch, whatever the tolerances and the statistic say.
    finite = bool(torch.isfinite(actual).all() and torch.isfinite(expected).all())
    quantile = None
    if error_stat == "elemwise":
        failing = (abs_err > tolerance.atol) & (rel_err > tolerance.rtol) | abs_err.isnan()
        passed = not bool(failing.any())
        # Elements that the rtol alone does not excuse need an atol at least their abs error.
        over_rtol = abs_err[rel_err > tolerance.rtol]
        min_passing_atol = float(over_rtol.max()) if len(over_rtol) else 0.0
    else:
        if error_stat == "quantile":
            quantile = (float(abs_err.quantile(error_quantile)), float(rel_err.quantile(error_quantile)))
        stat_abs, stat_rel = quantile or _statistic(error_stat, abs_err, rel_err)
        passed = stat_abs <= tolerance.atol or stat_rel <= tolerance.rtol
        min_passing_atol = 0.0 if stat_rel <= tolerance.rtol else stat_abs
    return Comparison(
        **labels,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        max_abs=float(abs_err.max()),
        mean_abs=float(abs_err.mean()),
        median_abs=float(abs_err.median()),
        max_rel=float(rel_err.max()),
        mean_rel=float(rel_err.mean()),
        median_rel=float(rel_err.median()),
        min_passing_atol=min_passing_atol,
        passed=finite and passed,
        check=error_stat,
        quantile=error_quantile if quantile else None,
        quantile_abs=quantile[0] if quantile else None,
        quantile_rel=quantile[1] if quantile else None,
    )


def _aligned(actual: torch.Tensor, expected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as float64 on the CPU, of one shape. Shapes that differ only by axes of size 1 are the
    same values (a D ending in `.squeeze()` gives a 0-d score for one image where its export,
    traced at a larger batch, keeps the batch axis); any other difference is an error."""
    actual = actual.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    if actual.shape != expected.shape:
        if actual.squeeze().shape != expected.squeeze().shape:
            raise ValueError(f"output shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
        actual = actual.reshape(expected.shape)
    return actual, expected


def _statistic(name: str, abs_err: torch.Tensor, rel_err: torch.Tensor) -> tuple[float, float]:
    reduce = {"max": torch.max, "mean": torch.mean, "median": torch.median}[name]
    return float(reduce(abs_err)), float(reduce(rel_err))


# A stochastic G's outputs match in distribution when the mean and the standard deviation differ
# by at most this fraction of the reference's standard deviation.
DISTRIBUTION_BOUND = 0.05


def compare_distribution(actual: torch.Tensor, expected: torch.Tensor, **labels) -> Comparison:
    """max abs: |mean difference|; max rel: |std difference| / std; both over every value, and both
    must stay within DISTRIBUTION_BOUND of the reference's std."""
    actual, expected = (t.flatten() for t in _aligned(actual, expected))
    scale = float(expected.std()) + EPS if len(expected) > 1 else 1.0
    mean_gap = abs(float(actual.mean() - expected.mean()))
    std_gap = abs(float(actual.std() - expected.std())) if len(expected) > 1 else 0.0
    finite = bool(torch.isfinite(actual).all() and torch.isfinite(expected).all())
    bound = DISTRIBUTION_BOUND * scale
    return Comparison(
        **labels,
        atol=bound,
        rtol=DISTRIBUTION_BOUND,
        max_abs=mean_gap,
        mean_abs=mean_gap,
        median_abs=mean_gap,
        max_rel=std_gap / scale,
        mean_rel=std_gap / scale,
        median_rel=std_gap / scale,
        min_passing_atol=max(mean_gap, std_gap),
        passed=finite and mean_gap <= bound and std_gap <= bound,
        check="distribution",
    )


def check_backends(
    backends: Sequence[tuple[str, Backend]],
    inputs: dict[str, tuple[torch.Tensor, ...]],
    expected: dict[str, torch.Tensor],
    rule: Rule,
    batches: Sequence[int] = PARITY_BATCHES,
    by_distribution: frozenset[str] = frozenset(),
    outputs: Mapping[str, str] | None = None,
    extras: Mapping[str, list[tuple[str, torch.Tensor]]] | None = None,
) -> list[Comparison]:
    """Each (model, backend) on the first `batch` rows of `inputs[model]` (in the model's argument
    order) against `expected[model][:batch]`, held to `rule` for the model's output (`outputs`
    maps "generator", "discriminator" and "chain" to their output names); the models in
    `by_distribution` (a stochastic G) by `compare_distribution`. A model that returns several
    outputs has each of the others compared too: `extras[model]` lists (name, expected)."""
    outputs, extras = outputs or {}, extras or {}
    results = []
    for model, backend in backends:
        for batch in batches:
            expected_here = [(outputs.get(model.split("@")[0], ""), expected[model])]
            expected_here += list(extras.get(model, []))
            args = tuple(x[:batch] for x in inputs[model])
            random = model.split("@")[0] in by_distribution
            results += _check_one(model, backend, batch, args, expected_here, rule, random)
    return results


def _check_one(
    model: str,
    backend: Backend,
    batch: int,
    args: tuple,
    expected: list[tuple[str, torch.Tensor]],
    rule: Rule,
    by_distribution: bool,
) -> list[Comparison]:
    """One backend at one batch: a comparison per output, each a row even when it did not run."""
    rows = []
    try:
        actual = backend.bind_all(*args)() if len(expected) > 1 else (backend(*args),)
        problem = None
    except Exception as error:  # a frozen batch axis fails here; that is a result, not a crash
        actual, problem = (), error
    for i, (output, wanted) in enumerate(expected):
        tolerance = rule.tolerance(backend.device.type, output)
        labels = dict(model=model, backend=backend.name, device=str(backend.device), batch=batch)
        labels |= dict(output=output, precision=backend.precision)
        try:
            if problem is not None:
                raise problem
            if i >= len(actual):
                raise ValueError(f"{backend.name} returned {len(actual)} output(s), expected {len(expected)}")
            if by_distribution:
                rows.append(compare_distribution(actual[i], wanted[:batch], **labels))
            else:
                stat = dict(error_stat=rule.error_stat, error_quantile=rule.error_quantile)
                rows.append(compare(actual[i], wanted[:batch], tolerance, **stat, **labels))
        except Exception as error:
            rows.append(failed(labels, tolerance, error))
    return rows


def failed(
    labels: dict, tolerance: Tolerance, error: Exception | str, unsupported: bool = False
) -> Comparison:
    """A row that could not be compared: the backend failed to run (or, `unsupported`, cannot
    take this model here); `error` is its one-line reason."""
    nan = float("nan")
    message = (
        error if isinstance(error, str) else (str(error).strip().splitlines() or [type(error).__name__])[0]
    )
    message = message[:300]
    return Comparison(
        **labels,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        max_abs=nan,
        mean_abs=nan,
        median_abs=nan,
        max_rel=nan,
        mean_rel=nan,
        median_rel=nan,
        min_passing_atol=nan,
        passed=unsupported,
        error=message,
        unsupported=unsupported,
    )


def parity_table(
    results: Sequence[Comparison],
    title: str = "Parity against eager PyTorch (golden outputs)",
    wide: bool = False,
) -> Table:
    """One line per comparison, fitting 100 columns; `wide` adds mean/median errors and tolerances."""
    columns = [
        ("max abs", lambda r: f"{r.max_abs:.1e}"),
        ("max rel", lambda r: f"{r.max_rel:.1e}"),
        ("min atol", lambda r: f"{r.min_passing_atol:.1e}"),
    ]
    if wide:
        columns += [
            ("mean abs", lambda r: f"{r.mean_abs:.1e}"),
            ("median abs", lambda r: f"{r.median_abs:.1e}"),
            ("median rel", lambda r: f"{r.median_rel:.1e}"),
            ("atol/rtol", lambda r: f"{r.atol:.0e}/{r.rtol:.0e}"),
        ]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for header in ("model", "backend", "device", "batch", *(h for h, _ in columns), "result"):
        left = header in ("model", "backend", "device")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for r in results:
        table.add_row(
            model_label(r.model),
            r.backend,
            r.device,
            str(r.batch),
            *(value(r) for _, value in columns),
            _shown_status(r),
        )
    return table


def _shown_status(r: Comparison) -> str:
    shown = {"pass": "[green]pass", "FAIL": "[bold red]FAIL", "error": "[bold red]error"}
    label = shown.get(r.status, "[yellow]unsupported")
    return label + (" (distribution)" if r.check == "distribution" else "")
