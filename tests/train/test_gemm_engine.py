"""The CPU GEMM engine: oneDNN linears compute what nn.Linear computes, forward and backward; the
choice follows the measurement, never a CPU name; and it reaches `gan train` and `gan bench`."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import CPU, fresh_models, gan, gan_step
from torch import nn

from gan.errors import GanError
from gan.models.inputs import IMAGE, Noise, Signature
from gan.train import gemm_engine
from gan.train.gemm_engine import OneDnnLinear, choose_engine, use_engine
from gan.train.loss import GanLoss


def _grads(module: nn.Module, x: torch.Tensor, upstream: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_(True)
    module.zero_grad()
    module(x).backward(upstream)
    return [x.grad, module.weight.grad, module.bias.grad]


def test_onednn_linear_matches_nn_linear_forward_and_backward_on_3d_input():
    layer = nn.Linear(7, 5)
    x = torch.randn(3, 4, 7)
    upstream = torch.randn(3, 4, 5)
    expected_out, expected = layer(x), _grads(layer, x, upstream)
    use_engine(layer_holder := nn.Sequential(layer), "onednn")
    onednn = layer_holder[0]
    assert type(onednn) is OneDnnLinear
    torch.testing.assert_close(onednn(x), expected_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(_grads(onednn, x, upstream), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_use_engine_keeps_parameters_keys_and_leaves_user_subclasses_alone():
    class MyLinear(nn.Linear):  # a user's own forward must not be replaced
        pass

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), MyLinear(3, 2))
    params, keys = list(model.parameters()), list(model.state_dict())
    use_engine(model, "onednn")
    assert [type(m) for m in model] == [OneDnnLinear, nn.ReLU, MyLinear]
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert list(model.state_dict()) == keys
    use_engine(model, "aten")
    assert type(model[0]) is nn.Linear and model[0].weight is params[0]
    with pytest.raises(GanError, match="unknown GEMM engine 'mkl'"):
        use_engine(model, "mkl")


def test_eager_training_on_onednn_follows_aten():
    """Five eager steps of the seed GAN on each engine land on the same weights (fp32 rounding)."""
    weights = {}
    for engine in ("aten", "onednn"):
        architecture, generator, discriminator = fresh_models("mlp")
        use_engine(generator, engine), use_engine(discriminator, engine)
        step = gan_step(generator, discriminator, loss=GanLoss(output=architecture.discriminator_output))
        rng = torch.Generator().manual_seed(0)
        for _ in range(5):
            real = torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8, generator=rng)
            step(real, torch.randn(32, *architecture.z_shape, generator=rng))
        weights[engine] = torch.cat([p.detach().flatten() for p in generator.parameters()])
    assert (weights["aten"] - weights["onednn"]).abs().max() < 1e-4


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ({"aten": 1.0, "onednn": 0.5}, "onednn"),
        ({"aten": 1.0, "onednn": 0.95}, "aten"),
        ({"aten": 1.0, "onednn": 2.0}, "aten"),
    ],
)
def test_auto_takes_onednn_only_when_measured_clearly_faster(monkeypatch, seconds, expected):
    monkeypatch.setattr(gemm_engine, "time_engines", lambda *args: seconds)
    architecture, generator, discriminator = fresh_models("mlp")
    choice = choose_engine("auto", CPU, generator, discriminator, architecture.signature, 64)
    assert choice.engine == expected
    assert f"{seconds['onednn'] / seconds['aten']:.2f}x" in choice.reason
    assert choice.seconds == seconds


def test_auto_keeps_aten_for_a_compiled_step_that_would_lose_the_onednn_backward(monkeypatch):
    monkeypatch.setattr(gemm_engine, "time_engines", lambda *args: {"aten": 1.0, "onednn": 0.5})
    monkeypatch.setattr(gemm_engine, "compiled_backward_is_kept", lambda: False)
    architecture, generator, discriminator = fresh_models("mlp")
    choice = choose_engine("auto", CPU, generator, discriminator, architecture.signature, 64, compiled=True)
    assert choice.engine == "aten"
    assert "0.50x" in choice.reason and "pytorch/pytorch#193279" in choice.reason
    with pytest.raises(GanError, match="--gemm onednn cannot be used: .*--no-compile"):
        choose_engine("onednn", CPU, generator, discriminator, architecture.signature, 64, compiled=True)


@pytest.mark.slow  # two inductor compiles of the whole step from a cold cache: about 16 s
@pytest.mark.filterwarnings("ignore:.*an autograd kernel was not registered")
def test_the_compile_probe_predicts_what_the_compiled_gan_step_does():
    """The probe `auto` trusts must say True exactly when the compiled whole step, on oneDNN
    linears, trains to the eager step's weights: checked on the step the probe guards."""

    def trained(compile: bool) -> list[torch.Tensor]:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            generator = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Unflatten(1, (1, 3, 4)))
            discriminator = nn.Sequential(nn.Flatten(), nn.Linear(12, 1), nn.Sigmoid())
        use_engine(generator, "onednn"), use_engine(discriminator, "onednn")
        step = gan_step(generator, discriminator, compile=compile)
        rng = torch.Generator().manual_seed(1)
        for _ in range(2):
            step(
                torch.randint(0, 256, (8, 1, 3, 4), dtype=torch.uint8, generator=rng),
                torch.randn(8, 4, generator=rng),
            )
        return [p.detach().clone() for p in (*generator.parameters(), *discriminator.parameters())]

    # Each update moves a weight by about lr = 2e-4; a lost backward moves it elsewhere.
    same = all(torch.allclose(a, b, rtol=0, atol=2e-5) for a, b in zip(trained(False), trained(True)))
    assert gemm_engine.compiled_backward_is_kept() == same


def test_a_resumed_run_keeps_its_engine_while_it_can_run(monkeypatch):
    architecture, generator, discriminator = fresh_models("mlp")
    args = (CPU, generator, discriminator, architecture.signature, 64)
    monkeypatch.setattr(gemm_engine, "time_engines", lambda *a: pytest.fail("a resume keeps, not times"))
    for engine in ("aten", "onednn"):
        choice = choose_engine("auto", *args, resumed_on=engine)
        assert choice.engine == engine and "this run was trained on" in choice.reason
    assert choose_engine("aten", *args, resumed_on="onednn").engine == "aten"  # --gemm overrides
    # A oneDNN run resumed with the compiled step, on a torch that would lose its backward: measured anew.
    monkeypatch.setattr(gemm_engine, "compiled_backward_is_kept", lambda: False)
    monkeypatch.setattr(gemm_engine, "time_engines", lambda *a: {"aten": 1.0, "onednn": 0.5})
    choice = choose_engine("auto", *args, compiled=True, resumed_on="onednn")
    assert choice.engine == "aten" and "pytorch/pytorch#193279" in choice.reason


def test_timing_feeds_each_linear_call_its_own_shape_and_leaves_the_models_alone():
    """DCGAN's convolutions are not timed (they drowned the engines' difference in noise and the
    choice flipped between runs); its two linears are, at the shapes a batch gives them."""
    architecture, generator, discriminator = fresh_models("dcgan")
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    calls = gemm_engine._linear_calls(generator, discriminator, architecture.signature, 8)
    shapes = [(type(layer), tuple(x.shape)) for layer, x in calls]
    assert shapes == [(nn.Linear, (8, 100)), (nn.Linear, (8, discriminator.net[-2].in_features))]
    assert all(x.requires_grad for _, x in calls)
    assert all(torch.equal(v, before[k]) for k, v in generator.state_dict().items())  # BN stats too
    seconds = gemm_engine.time_engines(generator, discriminator, architecture.signature, 8, rounds=1)
    assert set(seconds) == {"aten", "onednn"} and all(0 < s < 1 for s in seconds.values())


def test_models_without_linear_layers_keep_aten_without_timing(monkeypatch):
    monkeypatch.setattr(gemm_engine, "time_engines", lambda *args: pytest.fail("nothing to time"))
    generator = nn.Sequential(nn.ConvTranspose2d(4, 1, 4), nn.Tanh())
    discriminator = nn.Sequential(nn.Conv2d(1, 1, 4), nn.Flatten())
    choice = choose_engine(
        "auto", CPU, generator, discriminator, Signature((Noise((4, 1, 1)),), (IMAGE,), (1, 4, 4)), 8
    )
    assert choice.engine == "aten" and "no nn.Linear" in choice.reason


def test_train_on_onednn_records_the_engine_in_the_run_dir(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    args = ["train", "--limit", "256", "--epochs", "1", "--no-compile", "--gemm", "onednn"]
    result = gan(*args, "--out", run_dir, data_dir=data_dir)
    assert result.exit_code == 0, result.output
    assert "GEMM engine: onednn (asked for)" in result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["gemm"] == "onednn" and config["gemm_choice"]["engine"] == "onednn"


def test_a_model_onednn_cannot_run_keeps_aten_and_says_why():
    """A float64 model: oneDNN's linear takes no doubles, so auto must fall back, not crash."""
    generator = nn.Sequential(nn.Linear(4, 6)).double()
    discriminator = nn.Sequential(nn.Linear(6, 1)).double()

    class Double(nn.Module):  # z arrives as float32; the user's model casts it
        def forward(self, z):
            return generator(z.double())

    choice = choose_engine("auto", CPU, Double(), discriminator, Signature((Noise((4,)),), (IMAGE,), (6,)), 8)
    assert choice.engine == "aten" and choice.reason.startswith("oneDNN could not run this model")
