"""PyTorch's deployable formats: the ExportedProgram (torch.export) and the AOTInductor package,
written beside TorchScript and ONNX, checked by parity at every batch and size, sampled and
benched; the package compiled once and then taken from the cache; bad packages, a machine without
a C++ compiler and --untrusted each one line. AOTInductor compiles for seconds per model, so these
run with the slow tests (CI runs them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import REPO, gan, relist, save_weights

from gan.export.golden import PARITY_BATCHES

pytestmark = pytest.mark.slow

ALL = "torchscript,onnx,exported-program,aoti"
EXAMPLES = REPO / "examples"
ZOO = f"{REPO}/tests/zoo/user_models.py:INIT_ARGS"


@pytest.fixture(scope="module")
def cache(tmp_path_factory, monkeypatch_module):
    """One package cache for this module's exports."""
    path = tmp_path_factory.mktemp("aoti-cache")
    monkeypatch_module.setenv("GAN_CACHE_DIR", str(path))
    return path / "aoti"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def imported(spec: str, tmp: Path, seed: int = 3) -> Path:
    g_path, d_path = save_weights(spec, tmp, seed=seed)
    args = ["import", tmp / "run", "--arch", spec, "--generator", g_path]
    result = gan(*args, *(["--discriminator", d_path] if d_path else []))
    assert result.exit_code == 0, result.output
    return tmp / "run"


@pytest.fixture(scope="module")
def exported(cache, tmp_path_factory):
    """A small user GAN exported in all four formats: (run dir, export dir, gan export's output)."""
    run = imported(ZOO, tmp_path_factory.mktemp("four"))
    result = gan("export", run, "--formats", ALL)
    assert result.exit_code == 0, result.output
    return run, run / "export", result.output


def test_every_format_is_listed_hashed_and_proven_at_every_batch(exported):
    _, export, _ = exported
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["formats"] == ALL.split(",")
    for model in ("generator", "discriminator"):
        files = manifest["models"][model]["files"]
        assert files["exported-program"] == f"{model}.ep.pt2" and files["aoti"] == f"{model}.aoti.pt2"
        assert {files["exported-program"], files["aoti"]} <= set(manifest["files"])  # hashed
        made_by = manifest["models"][model]["made_by"]
        assert made_by["aoti"]["torch"] == torch.__version__ and made_by["aoti"]["device"] == "cpu"
        assert made_by["exported-program"]["dynamic"] == ["batch"]
    rows = manifest["parity"]
    for backend in ("exported-program", "aoti"):
        for model in ("generator", "discriminator", "chain"):
            got = {
                r["batch"] for r in rows if r["backend"] == backend and r["model"] == model and r["passed"]
            }
            assert got == set(PARITY_BATCHES), (backend, model)
    assert gan("verify", export).exit_code == 0


def test_sample_and_bench_run_the_package(exported, tmp_path):
    run, export, _ = exported
    for backend in ("aoti", "exported-program"):
        result = gan("sample", run, "--backend", backend, "-n", "4", "--out", tmp_path / f"{backend}.png")
        assert result.exit_code == 0, result.output
    report = tmp_path / "bench.json"
    args = ["--arch", ZOO, "--backends", "eager,aoti,exported-program", "--batch-size", "4", "--json", report]
    result = gan("bench", export, "--quick", *args)
    assert result.exit_code == 0, result.output
    rows = {(r["workload"], r["backend"]): r for r in json.loads(report.read_text())["results"]}
    for backend in ("aoti", "exported-program"):
        assert rows[("forward G", backend)]["status"] == "ok"
        train = rows[("train iteration", backend)]
        assert train["status"] == "n/a" and "inference" in train["reason"]


def test_re_exporting_an_unchanged_run_takes_the_package_from_the_cache(exported, cache, monkeypatch):
    from gan.export.formats import aoti

    run, export, _ = exported
    before = sorted(p.name for p in cache.iterdir())

    def never(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(aoti, "_compile", never)
    result = gan("export", run, "--out", run / "again", "--formats", ALL)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in cache.iterdir()) == before
    assert (run / "again" / "generator.aoti.pt2").read_bytes() == (export / "generator.aoti.pt2").read_bytes()


def test_untrusted_never_loads_a_package_or_a_program(exported, monkeypatch):
    run, export, _ = exported

    def refuse(*args, **kwargs):
        raise AssertionError("loaded")

    monkeypatch.setattr(torch._inductor, "aoti_load_package", refuse)
    monkeypatch.setattr(torch.export, "load", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)
    result = gan("verify", export, "--untrusted")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "--untrusted: not loaded generator.pt, generator.ep.pt2, generator.aoti.pt2" in text
    assert "shared library" in text
    refused = gan("sample", run, "--backend", "aoti", "--untrusted", "--out", "x.png")
    assert refused.exit_code == 2 and "--untrusted refuses aoti" in refused.output


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "is not a loadable AOTInductor package"),
        (lambda b: b"not a zip at all" + b[16:], "is not a loadable AOTInductor package"),
    ],
)
def test_a_damaged_package_is_an_error_row(exported, tmp_path, damage, message):
    import shutil

    _, export, _ = exported
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    path = copy / "generator.aoti.pt2"
    path.write_bytes(damage(path.read_bytes()))
    relist(copy, "generator.aoti.pt2")
    report = tmp_path / "parity.json"
    result = gan("verify", copy, "--json", report)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in " ".join(result.output.split())
    rows = json.loads(report.read_text())["comparisons"]
    assert all(
        r["status"] == "error" for r in rows if r["backend"] == "aoti" and r["model"] != "discriminator"
    )
    assert all(r["passed"] for r in rows if r["backend"] != "aoti")


def test_without_a_compiler_aoti_is_skipped_by_default_and_refused_when_asked(
    exported, tmp_path, monkeypatch
):
    run, _, _ = exported
    monkeypatch.setenv("CXX", "no-such-compiler")
    monkeypatch.delenv("GAN_EXPORT_FORMATS", raising=False)
    asked = gan("export", run, "--out", tmp_path / "asked", "--formats", "onnx,aoti")
    assert asked.exit_code == 3 and "cannot export aoti: no C++ compiler" in " ".join(asked.output.split())
    assert not (tmp_path / "asked").exists()
    default = gan("export", run, "--out", tmp_path / "default")
    assert default.exit_code == 0, default.output
    assert "aoti not exported: no C++ compiler" in " ".join(default.output.split())
    manifest = json.loads((tmp_path / "default" / "manifest.json").read_text())
    assert "aoti" in manifest["skipped_formats"] and "aoti" not in manifest["formats"]
    assert not any(r["backend"] == "aoti" for r in manifest["parity"])


CASES = [
    "mlp",
    "dcgan",
    "cgan",
    f"{EXAMPLES}/conditional_dcgan.py:TINY_CDCGAN",
    f"{EXAMPLES}/pix2pix.py:TINY_PIX2PIX",
    f"{EXAMPLES}/stylegan_like.py:TINY_STYLEGAN",
    f"{EXAMPLES}/sngan.py:TINY_SNGAN",
    f"{EXAMPLES}/wgan_gp.py:WGAN_GP",
    f"{EXAMPLES}/my_gan.py:GENERATOR_ONLY",
]


@pytest.mark.parametrize("spec", CASES)
def test_builtins_and_examples_export_and_verify_in_all_four_formats(spec, cache, tmp_path):
    run = imported(spec, tmp_path)
    result = gan("export", run, "--formats", ALL)
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    for backend in ("exported-program", "aoti"):
        rows = [r for r in manifest["parity"] if r["backend"] == backend]
        assert rows and all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
        if manifest["golden"]["sizes"]:  # an image-to-image G: every declared size
            assert {r["model"] for r in rows} >= {
                f"generator@{h}x{w}" for h, w in manifest["golden"]["sizes"]
            }
    assert gan("verify", run / "export").exit_code == 0


def test_cpp_runs_the_package_and_the_torchscript_file_within_the_fp32_rule(exported, tmp_path):
    _, export, _ = exported
    report = tmp_path / "parity.json"
    result = gan("verify", export, "--cpp", "--json", report)
    assert result.exit_code == 0, result.output
    rows = json.loads(report.read_text())["comparisons"]
    for backend in ("aoti-cpp", "torchscript-cpp"):
        got = {(r["model"], r["batch"]) for r in rows if r["backend"] == backend and r["passed"]}
        assert got == {(m, b) for m in ("generator", "discriminator") for b in PARITY_BATCHES}, backend
        assert all(r["atol"] == 1e-5 and r["rtol"] == 1e-4 for r in rows if r["backend"] == backend)


def test_cpp_fails_a_planted_package(exported, tmp_path):
    import shutil

    _, export, _ = exported
    # A package of the same architecture with other weights, where G's should be.
    (tmp_path / "other").mkdir()
    other = imported(ZOO, tmp_path / "other", seed=11)
    assert gan("export", other, "--formats", "aoti").exit_code == 0
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    shutil.copy(other / "export" / "generator.aoti.pt2", copy / "generator.aoti.pt2")
    relist(copy, "generator.aoti.pt2")
    report = tmp_path / "parity.json"
    result = gan("verify", copy, "--cpp", "--json", report)
    assert result.exit_code == 1 and "Traceback" not in result.output
    rows = json.loads(report.read_text())["comparisons"]
    planted = [r for r in rows if r["backend"] == "aoti-cpp" and r["model"] == "generator"]
    assert planted and not any(r["passed"] for r in planted) and all(r["status"] == "FAIL" for r in planted)
    assert all(r["passed"] for r in rows if r["backend"] == "torchscript-cpp")


def test_cpp_without_a_compiler_or_with_untrusted_is_one_line(exported, monkeypatch):
    _, export, _ = exported
    refused = gan("verify", export, "--cpp", "--untrusted")
    assert refused.exit_code == 2 and "cannot be combined with --untrusted" in " ".join(
        refused.output.split()
    )
    monkeypatch.setenv("CXX", "no-such-compiler")
    monkeypatch.setenv("GAN_CACHE_DIR", str(Path(export).parent / "empty-cache"))
    missing = gan("verify", export, "--cpp")
    assert missing.exit_code == 3 and "--cpp needs a C++20 compiler" in " ".join(missing.output.split())
    assert "Traceback" not in missing.output


def test_a_package_compiled_by_another_torch_is_an_error_row_not_a_load(exported, tmp_path, monkeypatch):
    import shutil

    from helpers import rewrite_manifest

    _, export, _ = exported
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    rewrite_manifest(
        copy, lambda m: m["models"]["generator"]["made_by"]["aoti"].__setitem__("torch", "2.9.0")
    )

    load = torch._inductor.aoti_load_package

    def only_ds(path, *args, **kwargs):
        assert "generator" not in str(path), "a package of another torch was loaded"
        return load(path, *args, **kwargs)

    monkeypatch.setattr(torch._inductor, "aoti_load_package", only_ds)
    result = gan("verify", copy)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "was compiled by torch 2.9.0, and this is torch" in " ".join(result.output.split())
