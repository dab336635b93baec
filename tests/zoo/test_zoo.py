"""The failure boundary: GANs the toolkit never saw (user_models.py) through import, train,
export, verify, sample and bench. Whatever cannot be done is one line and an exit code (1, 2 or
3), a backend or format that fails is a row of its own, and the other rows still run; no command
shows a traceback unless asked (--debug)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, gan, save_weights
from PIL import Image

ZOO = REPO / "tests" / "zoo" / "user_models.py"
# name -> trainable by the GAN step on the bundled 1x28x28 data
MODELS = {
    "TUPLE_OUTPUT": True,
    "DICT_OUTPUT": True,
    "SQUEEZE_D": True,
    "SUPER_RESOLUTION": False,
    "IN_PLACE": True,
    "VAR_ARGS": True,
    "INIT_ARGS": True,
    "SORTING": True,
}
# A bench that fits the fast tier: forward rows of three runtimes at batch 4 (the slow tier runs
# every default row of two of them).
QUICK_BENCH = ["--quick", "--workloads", "forward", "--backends", "eager,onnxruntime,openvino"]


def spec(name: str) -> str:
    return f"{ZOO}:{name}"


def no_traceback(result, *codes: int):
    assert result.exit_code in codes, result.output
    assert "Traceback" not in result.output, result.output


def one_line_error(result, message: str, code: int = 2):
    no_traceback(result, code)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert message in " ".join(result.output.split()), result.output


# The fast tier takes the four that break the most; the others run with the slow tests (CI runs both).
SLOW = ("SUPER_RESOLUTION", "IN_PLACE", "VAR_ARGS", "INIT_ARGS")


@pytest.fixture(
    scope="module", params=[pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS]
)
def pipeline(request, tmp_path_factory, data_dir):
    """(name, work dir, {command: result}): every command once on one zoo model."""
    name = request.param
    tmp = tmp_path_factory.mktemp(name.lower())
    g_path, d_path = save_weights(spec(name), tmp)
    run = tmp / "run"
    results = {
        "import": gan("import", run, "--arch", spec(name), "--generator", g_path, "--discriminator", d_path)
    }
    if MODELS[name]:
        args = ["--epochs", "1", "--limit", "128", "--no-compile", "--out", tmp / "trained"]
        results["train"] = gan("train", "--arch", spec(name), *args, data_dir=data_dir)
    results["export"] = gan("export", run)
    results["verify"] = gan("verify", run / "export", "--json", tmp / "parity.json")
    sample = ["--out", tmp / "sample.png", "-n", "4", "--backend", "onnxruntime"]
    if name == "SUPER_RESOLUTION":
        sources = tmp / "sources"
        sources.mkdir()
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(sources / f"{i}.png")
        sample += ["--input", sources]
    results["sample"] = gan("sample", run, *sample)
    bench = [*QUICK_BENCH, "--batch-size", "4", "--json", tmp / "bench.json"]
    results["bench"] = gan("bench", run / "export", "--arch", spec(name), *bench)
    return name, tmp, results


def test_no_command_shows_a_traceback(pipeline):
    name, _, results = pipeline
    expected = {"export": (0, 1), "verify": (0, 1), "sample": (0, 2), "bench": (0, 1)}
    for command, result in results.items():
        no_traceback(result, *expected.get(command, (0,)))


def test_every_exported_output_is_checked_and_the_runs_agree(pipeline):
    name, tmp, results = pipeline
    manifest = json.loads((tmp / "run" / "export" / "manifest.json").read_text())
    rows = manifest["parity"]
    if name == "SORTING":  # torch.sort has no ONNX function: its ONNX rows fail, TorchScript's pass
        assert "aten.sort" in manifest["models"]["generator"]["failed"]["onnx"]
        assert "onnx" not in manifest["models"]["generator"]["files"]
        onnx_rows = [
            r for r in rows if r["model"] in ("generator", "chain") and r["backend"] == "onnxruntime"
        ]
        assert onnx_rows and all(r["status"] == "error" and "aten.sort" in r["error"] for r in onnx_rows)
        assert all(r["passed"] for r in rows if r["backend"] in ("eager", "torchscript"))
        assert results["export"].exit_code == 1 and results["verify"].exit_code == 1
        return
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
    assert results["export"].exit_code == 0 and results["verify"].exit_code == 0
    if name == "SQUEEZE_D":  # OpenVINO's CPU plug-in refuses a Squeeze of dynamic rank
        refused = [r for r in rows if r["backend"] == "openvino" and r["model"] != "generator"]
        assert refused and all(r["status"] == "unsupported" for r in refused)
        assert "openvino" in results["export"].output and "unsupported here" in results["export"].output
    if name == "TUPLE_OUTPUT":  # G's features are exported beside its image, and compared
        outputs = manifest["models"]["generator"]["outputs"]
        assert [o["name"] for o in outputs] == ["image", "output_1"]
        assert {r["backend"] for r in rows if r["output"] == "output_1"} >= {"torchscript", "onnxruntime"}
    if name == "DICT_OUTPUT":  # the AC-GAN's class logits beside its score
        outputs = manifest["models"]["discriminator"]["outputs"]
        assert [o["name"] for o in outputs] == ["logits", "cls"] and outputs[1]["shape"] == ["batch", 10]
        assert any(r["output"] == "cls" and r["backend"] == "onnxruntime" for r in rows)


def test_train_import_and_sample_work_where_they_can(pipeline):
    name, tmp, results = pipeline
    assert results["import"].exit_code == 0, results["import"].output
    if "train" in results:
        assert results["train"].exit_code == 0, results["train"].output
        assert len((tmp / "trained" / "losses.csv").read_text().splitlines()) == 1 + 2
    if name == "SORTING":  # no ONNX generator: the sample says so in one line
        one_line_error(results["sample"], "aten.sort")
        return
    assert results["sample"].exit_code == 0, results["sample"].output
    picture = Image.open(tmp / "sample.png")
    if name == "SUPER_RESOLUTION":
        # Three 8x8 sources drawn at the 16x16 of G's images, above them: two rows of 16 px and
        # 2 px of padding (the grid may be scaled up as a whole for viewing).
        width, height = 3 * 16 + 4 * 2, 2 * 16 + 3 * 2
        assert picture.size[0] * height == picture.size[1] * width and picture.size[0] >= width


def test_bench_rows_run_or_say_why(pipeline):
    name, tmp, results = pipeline
    rows = json.loads((tmp / "bench.json").read_text())["results"]
    by = {(r["workload"], r["backend"]): r for r in rows}
    assert by[("forward G", "eager")]["status"] == "ok"
    if name == "SORTING":
        assert by[("forward G", "onnxruntime")]["status"] == "error"
        assert "aten.sort" in by[("forward G", "onnxruntime")]["reason"]
        assert results["bench"].exit_code == 1
    else:
        assert by[("forward G", "onnxruntime")]["status"] == "ok"
    if name == "SQUEEZE_D":
        assert by[("forward D", "openvino")]["status"] == "unsupported"
        assert by[("forward G", "openvino")]["status"] == "ok"


@pytest.mark.parametrize(
    "name, message",
    [
        ("TUPLE_UNDECLARED", "its generator returns a tuple of 2 tensor(s)"),
        ("TUPLE_UNDECLARED", "Architecture(..., generator_output=0)"),
        ("INIT_ARGS_UNBOUND", "functools.partial(ConfiguredG, ...)"),
        ("BROKEN_INIT", "weights file not found: pretrained/g.pth (at user_models.py:"),
    ],
)
def test_a_model_that_cannot_be_used_is_one_line_in_every_command(name, message, tmp_path, data_dir):
    weights = tmp_path / "netG.pth"
    if name == "TUPLE_UNDECLARED":  # builds, and is refused at its first call
        weights, _ = save_weights(spec(name), tmp_path)
    else:
        weights.write_bytes(b"")  # never read: the factory fails before any weights are loaded
    one_line_error(gan("import", tmp_path / "run", "--arch", spec(name), "--generator", weights), message)
    args = ["--epochs", "1", "--limit", "128", "--out", tmp_path / "trained"]
    one_line_error(gan("train", "--arch", spec(name), *args, data_dir=data_dir), message)
    one_line_error(gan("bench", "--arch", spec(name), "--quick", "--workloads", "forward"), message)
    assert not (tmp_path / "run").exists() and not (tmp_path / "trained").exists()


def test_debug_shows_the_traceback_behind_the_line(tmp_path):
    weights = tmp_path / "netG.pth"
    weights.write_bytes(b"")
    args = ["import", tmp_path / "run", "--arch", spec("BROKEN_INIT"), "--generator", weights]
    quiet = gan(*args)
    assert "Traceback" not in quiet.output
    shown = gan("--debug", *args)
    assert shown.exit_code == 2
    assert "Traceback" in shown.output and "user_models.py" in shown.output
    assert "raise RuntimeError" in shown.output


def test_the_compiled_step_falls_back_to_eager_when_it_cannot_compile(tmp_path, data_dir, monkeypatch):
    from gan.train import step

    def refuse(*args, **kwargs):
        raise RuntimeError("the compiler met something it cannot take")

    monkeypatch.setattr(step.GanStep, "_call_compiled", refuse)
    out = tmp_path / "run"
    result = gan(
        "train",
        "--arch",
        spec("INIT_ARGS"),
        "--epochs",
        "1",
        "--limit",
        "128",
        "--out",
        out,
        data_dir=data_dir,
    )
    no_traceback(result, 0)
    assert "could not be compiled (RuntimeError: the compiler met something" in result.output
    assert len((out / "losses.csv").read_text().splitlines()) == 1 + 2


def test_quick_bench_keeps_to_its_budget_and_lists_what_it_skipped(tmp_path):
    report = tmp_path / "bench.json"
    args = ["--arch", spec("INIT_ARGS"), "--quick", "--budget", "0.01", "--json", report]
    result = gan("bench", *args)
    no_traceback(result, 0)
    assert "skipped:" in result.output and "over the 0.01 s budget" in result.output
    saved = json.loads(report.read_text())
    assert saved["config"]["budget_s"] == 0.01
    skipped = [r for r in saved["results"] if r["status"] == "skipped"]
    assert skipped and all("budget ran out" in r["reason"] for r in skipped)


def test_quick_alone_has_a_50_second_budget_for_its_rows():
    from helpers import CPU

    from gan.bench.runner import QUICK_BUDGET_S, BenchConfig

    assert BenchConfig(device=CPU, quick=True).budget_s == QUICK_BUDGET_S == 50
    assert BenchConfig(device=CPU).budget_s is None
    assert BenchConfig(device=CPU, quick=True, budget_s=5).budget_s == 5


def _paths(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
