"""The SRKAN model: reference equality, chunking, streaming, checkpointing, homeostasis, bad input."""
import re
from pathlib import Path

import pytest
import torch

from reference import srkan_reference
from srkan import SRKAN

ROOT = Path(__file__).resolve().parents[1]


def small_model(**kw):
    torch.manual_seed(0)
    args = dict(n_in=12, n_hidden=10, n_out=4, n_layers=2, T=17, grid=4, chunk_size=5, checkpoint_chunks=True)
    args.update(kw)
    return SRKAN(**args).double()


def spikes_input(B=3, T=17, C=12, p=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, C, generator=g) < p).double()


def test_readme_quick_start_runs_verbatim():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick Start.*?```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(compile(block, "README Quick Start", "exec"), namespace)
    assert namespace["spikes"].shape == (32, 100, 20)
    assert namespace["v"].shape == (32, 100, 20)
    assert namespace["logits"].shape == (32, 20)
    assert set(namespace["spikes"].unique().tolist()) <= {0.0, 1.0}


CHUNK_CASES = [(c, {}) for c in (1, 3, 10, 17, 0, 4)] + [
    (4, {"basis": "rational"}), (6, {"n_modes": 2, "dendritic_gate": False}),
    (5, {"spline_order": 2, "surrogate": "atan"}), (7, {"surrogate": "rectangle", "synapse_rank": 7}),
    (3, {"detach_reset": True})]


@pytest.mark.parametrize("chunk_size, options", CHUNK_CASES)
def test_chunked_model_matches_sequential_reference(chunk_size, options):
    """Outputs and gradients of the chunked, checkpointed stack equal a plain step-by-step loop."""
    model = small_model(chunk_size=chunk_size, homeostasis="none", **options).train()
    x = spikes_input()
    out = model.run(x)
    ref_spikes, ref_membrane = srkan_reference(model, x)
    assert out.spikes.sum() > 0, "the test is vacuous if nothing spikes"
    assert torch.equal(out.spikes, ref_spikes)
    torch.testing.assert_close(out.membrane, ref_membrane, rtol=1e-9, atol=1e-10)
    weights = torch.randn_like(out.membrane)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad((model.readout_membrane(x) * weights).sum(), params, allow_unused=True)
    ref = torch.autograd.grad((ref_membrane * weights).sum(), params, allow_unused=True)
    for (name, _), g, r in zip(model.named_parameters(), grads, ref):
        if r is None:
            assert g is None or torch.count_nonzero(g) == 0, name
            continue
        torch.testing.assert_close(g, r, rtol=1e-7, atol=1e-9, msg=name)


def test_auto_checkpointing_follows_the_memory_budget():
    model = SRKAN(n_in=700, n_out=20)  # 4 x 256: ~160 B per neuron-step → 0.5 GiB at B=32, T=100
    assert model.checkpoint_chunks == "auto"
    assert not model._should_checkpoint(32, 100)
    assert model._should_checkpoint(32, 400) and model._should_checkpoint(32, 1600)
    assert SRKAN(n_in=700, n_out=20, checkpoint_chunks=True)._should_checkpoint(1, 10)
    assert not SRKAN(n_in=700, n_out=20, checkpoint_chunks=False)._should_checkpoint(1024, 10_000)
    with pytest.raises(ValueError, match="checkpoint_chunks"):
        SRKAN(n_in=700, n_out=20, checkpoint_chunks="sometimes")


def test_checkpointing_does_not_change_gradients():
    x = spikes_input()
    grads = []
    for ckpt in (True, False):
        model = small_model(checkpoint_chunks=ckpt, homeostasis="none").train()
        loss = model.readout_membrane(x).mean(1).logsumexp(1).sum()
        grads.append(torch.autograd.grad(loss, list(model.parameters()), allow_unused=True))
    for a, b in zip(*grads):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_default_model_is_chunk_size_invariant():
    """Acceptance: same weights, chunk_size 1/7/33/100 → identical spikes, membrane within 1e-4."""
    torch.manual_seed(0)
    model = SRKAN(n_in=700, n_hidden=256, n_out=20).eval()
    x = (torch.rand(4, 100, 700) < 0.05).float()
    outs = []
    with torch.no_grad():
        for c in (1, 7, 33, 100):
            model.chunk_size = c
            outs.append(model.run(x))
    for o in outs[1:]:
        assert torch.equal(o.spikes, outs[0].spikes)
        assert (o.membrane - outs[0].membrane).abs().max() <= 1e-4


def test_streaming_equals_one_call():
    model = small_model(chunk_size=4).eval()
    x = spikes_input(T=23)
    with torch.no_grad():
        whole = model.run(x)
        state = model.init_state(x.shape[0])
        spikes, membranes = [], []
        for start, stop in ((0, 5), (5, 6), (6, 17), (17, 23)):
            s, state = model.step_chunk(x[:, start:stop], state)
            spikes.append(s)
        state = model.init_state(x.shape[0])
        for start in range(0, 23, 9):
            m, state = model.step_chunk(x[:, start:start + 9], state, readout="membrane")
            membranes.append(m)
    assert torch.equal(torch.cat(spikes, 1), whole.spikes)
    torch.testing.assert_close(torch.cat(membranes, 1), whole.membrane)


def test_default_model_fires_in_range_at_init():
    """Acceptance: every spiking layer fires between 1 % and 30 % of steps, train and eval mode."""
    torch.manual_seed(0)
    model = SRKAN(n_in=700, n_hidden=256, n_out=20, homeostasis="none")
    x = (torch.rand(8, 100, 700) < 0.05).float()
    for mode in ("train", "eval"):
        getattr(model, mode)()
        with torch.no_grad():
            model(x)
        for name, rate in model.firing_rates().items():
            assert 0.01 <= rate <= 0.30, (mode, name, rate)


def test_layer_stats_shapes_and_outputs_are_binary():
    model = small_model().eval()
    x = spikes_input()
    spikes = model(x)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    stats = model.layer_stats()
    assert set(stats) == {"block0", "block1", "output"}
    assert stats["block0"]["rate"].shape == (10,) and stats["output"]["threshold"].shape == (4,)
    assert 0 <= float(stats["block1"]["outside_grid"]) <= 1


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.float32, torch.int64])
def test_accepts_spike_dtypes(dtype):
    model = small_model().float().eval()
    x = spikes_input().to(dtype)
    ref = model(spikes_input().float())
    assert torch.equal(model(x), ref)


# ------------------------------------------------------------------------------------ homeostasis
def _thresholds(model):
    return torch.stack([b.neuron.threshold.clone() for b in model.blocks])


def test_homeostasis_none_never_moves_thresholds():
    model = small_model(homeostasis="none").train()
    before = _thresholds(model)
    for _ in range(3):
        model(spikes_input())
    assert torch.equal(before, _thresholds(model))


def test_homeostasis_naive_moves_every_training_step():
    model = small_model(homeostasis="naive", target_rate=0.5).train()
    previous = _thresholds(model)
    for _ in range(3):
        model(spikes_input())
        now = _thresholds(model)
        assert (now != previous).all(), "naive homeostasis must move every threshold every step"
        rates = torch.stack([model.layer_stats()[f"block{i}"]["rate"] for i in range(2)])
        expected = (previous + 0.1 * (rates - 0.5)).clamp_min(0.05)
        torch.testing.assert_close(now, expected.to(now.dtype))
        previous = now


def test_homeostasis_ema_deadband_inside_and_outside():
    # Inside the deadband: target equal to the EMA start and a huge deadband → no movement.
    model = small_model(homeostasis="ema_deadband", homeostasis_deadband=0.99).train()
    before = _thresholds(model)
    model(spikes_input())
    assert torch.equal(before, _thresholds(model))
    # Outside: a target far from the firing rate moves every threshold by η (r̄ − r*).
    model = small_model(homeostasis="ema_deadband", target_rate=0.9, homeostasis_deadband=0.02).train()
    before = _thresholds(model)
    model(spikes_input())
    rates = torch.stack([model.layer_stats()[f"block{i}"]["rate"] for i in range(2)])
    ema = 0.9 * 0.9 + 0.1 * rates  # r̄ starts at r*
    expected = (before + 0.1 * (ema - 0.9)).clamp_min(0.05)
    torch.testing.assert_close(_thresholds(model), expected.to(before.dtype))
    assert (_thresholds(model) < before).all()


@pytest.mark.parametrize("mode", ["naive", "ema_deadband", "none"])
def test_homeostasis_never_moves_in_eval_mode(mode):
    model = small_model(homeostasis=mode, target_rate=0.9).eval()
    before = _thresholds(model)
    model(spikes_input())
    with torch.no_grad():
        model(spikes_input())
    assert torch.equal(before, _thresholds(model))


def test_thresholds_are_buffers_not_parameters():
    model = small_model()
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.endswith("threshold") for n in names)
    assert any(n.endswith("threshold") for n, _ in model.named_buffers())


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("shape, needle", [((3, 12), r"\[B, T, 12\].*\[3, 12\]"),
                                           ((3, 17, 11), r"\[B, T, 12\].*\[3, 17, 11\]"),
                                           ((1, 3, 17, 12), r"\[B, T, 12\].*\[1, 3, 17, 12\]")])
def test_wrong_shapes_are_refused(shape, needle):
    with pytest.raises(ValueError, match=needle):
        small_model()(torch.zeros(shape, dtype=torch.float64))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_input_is_refused(value):
    x = spikes_input()
    x[0, 3, 2] = value
    with pytest.raises(ValueError, match="non-finite"):
        small_model()(x)


def test_negative_input_is_refused():
    x = spikes_input()
    x[1, 0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        small_model().readout_membrane(x)


@pytest.mark.parametrize("kwargs, needle", [
    ({"grid": 0}, "grid"), ({"grid": -2}, "grid"), ({"chunk_size": -1}, "chunk_size"),
    ({"basis": "fourier"}, r"basis.*bspline.*rational"),
    ({"surrogate": "relu"}, r"surrogate.*saltation.*sigmoid.*rectangle.*atan"),
    ({"homeostasis": "adaptive"}, r"homeostasis.*ema_deadband.*naive.*none"),
    ({"n_layers": 0}, "n_layers"), ({"synapse_rank": 0}, "synapse_rank"),
    ({"target_rate": 1.5}, "target_rate"), ({"dt": 0}, "dt"), ({"tau_mem": -1.0}, "tau_mem"),
])
def test_invalid_constructor_arguments_are_refused(kwargs, needle):
    args = dict(n_in=12, n_hidden=10, n_out=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=needle):
        SRKAN(**args)


def test_step_chunk_refuses_unknown_readout():
    model = small_model()
    with pytest.raises(ValueError, match="readout"):
        model.step_chunk(spikes_input(), model.init_state(3), readout="voltage")


def test_small_model_learns_the_rate_coded_toy_task():
    """A small SRKAN separates classes coded by which channel block fires more, within 25 steps."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    def batch(B):
        y = torch.randint(0, 4, (B,), generator=g)
        p = torch.where((torch.arange(40) // 10)[None] == y[:, None], 0.3, 0.05)
        return (torch.rand(B, 30, 40, generator=g) < p[:, None]).float(), y

    model = SRKAN(n_in=40, n_hidden=32, n_out=4, n_layers=2, T=30, chunk_size=6)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(25):
        x, y = batch(16)
        loss = torch.nn.functional.cross_entropy(model.readout_membrane(x).mean(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(128)
    with torch.no_grad():
        acc = (model.eval().readout_membrane(x).mean(1).argmax(1) == y).float().mean()
    assert acc >= 0.8, acc
