"""The GAN step: the compiled whole iteration computes the eager one, Adam at host rates is torch's
Adam, and D's concatenated real+fake pass changes no gradient."""

import torch
from helpers import fresh_models, gan_step

from gan.train.adam import make_optimizer


def test_compiled_step_matches_eager_step():
    """After its first call the compiled step skips dynamo's guard checks; a batch of another
    size or share, or noise that is a view, in between must still run eagerly (or guarded), not
    through the graph built for 64 fresh tensors."""

    def trained(compile: bool) -> list[torch.Tensor]:
        _, generator, discriminator = fresh_models("mlp")
        step = gan_step(generator, discriminator, compile=compile)
        rng = torch.Generator().manual_seed(0)
        stats = []
        calls = ((64, 1.0, False), (64, 1.0, False), (32, 1.0, False), (64, 1.0, True), (64, 0.5, False))
        for batch, share, view in (*calls, (64, 1.0, False)):
            real = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8, generator=rng)
            z = (
                torch.randn(1, batch, 100, generator=rng)[0]
                if view
                else torch.randn(batch, 100, generator=rng)
            )
            stats.append(step(real, z, share=share))
        return [*generator.parameters(), *discriminator.parameters(), *stats]

    for eager, compiled in zip(trained(False), trained(True), strict=True):
        torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-4)


def test_adam_at_host_rates_is_torchs_adam():
    """The compiled CPU step updates with scalars computed on the host; three steps of it must be
    torch's own (fused) Adam, moments and counters included."""
    from gan.train.adam import adam_at_rates, adam_rates

    torch.manual_seed(0)
    reference, ours = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    ours.load_state_dict(reference.state_dict())
    opt_ref, opt_ours = (make_optimizer(m, 2e-4, (0.5, 0.999)) for m in (reference, ours))
    for _ in range(3):
        grads = [torch.randn_like(p) for p in reference.parameters()]
        for p, g in zip(reference.parameters(), grads):
            p.grad = g.clone()
        opt_ref.step()
        with torch.no_grad():
            adam_at_rates(opt_ours, list(ours.parameters()), grads, torch.tensor(adam_rates(opt_ours)))
    for p_ref, p_ours in zip(reference.parameters(), ours.parameters()):
        torch.testing.assert_close(p_ours, p_ref, atol=1e-7, rtol=1e-6)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt_ours.state[p_ours][key], opt_ref.state[p_ref][key])


def test_concatenated_d_pass_equals_two_passes():
    """The speed-up of one D pass on [real; fake] must not change the tutorial's gradients."""
    grads = []
    for concat in (True, False):
        _, generator, discriminator = fresh_models("mlp")
        step = gan_step(generator, discriminator)
        step.concat_d_pass = concat
        rng = torch.Generator().manual_seed(1)
        step(
            torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=rng),
            torch.randn(64, 100, generator=rng),
        )
        grads.append([p.grad for p in discriminator.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_each_step_compiles_its_own_copy_of_the_iteration():
    """Dynamo caches graphs per code object; a step's guard-skipping call must only ever find
    its own graph there, so each step compiles a copy of the iteration's code."""
    from gan.train.step import GanStep, _own_copy

    _, generator, discriminator = fresh_models("mlp")
    step = gan_step(generator, discriminator)
    copy = _own_copy(step._functional_iteration)
    assert copy.__func__.__code__ is not GanStep._functional_iteration.__code__
    assert copy.__self__ is step and copy.__func__.__code__ == GanStep._functional_iteration.__code__
