"""KAN and LIF-SNN baselines: shapes, parameter counts at SHD scale, gradients, the shared basis/surrogate,
input checks, and their Hydra configs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from srkan.nn import basis
from srkan.nn.baselines import KANClassifier, KANLayer, LIFSNNClassifier, MLPClassifier, RNNClassifier

ROOT = Path(__file__).resolve().parents[1]


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_at_shd_scale():
    assert n_params(KANClassifier(700, 20)) == 129_640  # ~132 K row of the seed's table
    assert n_params(LIFSNNClassifier(700, 20, n_hidden=128)) == 108_692  # BASELINES.md's recurrent LIF
    assert n_params(RNNClassifier(700, 20)) == 518_804
    assert n_params(MLPClassifier(700, 20, T=100)) == 18_205_480


@pytest.mark.parametrize("cls", [KANClassifier, LIFSNNClassifier])
def test_shapes_dtypes_and_gradients(cls):
    torch.manual_seed(0)
    m = cls(30, 5) if cls is KANClassifier else cls(30, 5, n_hidden=12)
    x = (torch.rand(3, 17, 30) < 0.3).to(torch.uint8)
    out = m(x)
    assert out.shape == (3, 17, 5)
    assert torch.isfinite(out).all()
    assert torch.equal(m(x.bool()), out) and torch.equal(m(x.float()), out)
    out.mean(1).logsumexp(-1).sum().backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("cls", [KANClassifier, LIFSNNClassifier])
def test_input_errors_name_the_shape(cls):
    m = cls(30, 5)
    with pytest.raises(ValueError, match=r"\[B, T, 30\]"):
        m(torch.zeros(2, 30))
    with pytest.raises(ValueError, match="30"):
        m(torch.zeros(2, 4, 31))
    with pytest.raises(ValueError, match="non-finite"):
        m(torch.full((1, 2, 30), float("nan")))
    with pytest.raises(ValueError, match="n_out"):
        cls(30, 0)


def test_kan_layer_uses_the_shared_basis_and_edge_functions_add_up():
    torch.manual_seed(0)
    layer = KANLayer(4, 3, grid=5, spline_order=3, grid_range=1.0)
    with torch.no_grad():
        layer.spline_weight.normal_()
    z = torch.rand(7, 4) * 2.4 - 1.2
    ref = basis.bspline_basis(z, 5, 3, -1.0, 1.0)
    assert torch.allclose(layer.basis(z), ref)
    out = layer(z)
    for j in range(3):
        manual = layer.bias[j] + sum(layer.edge_function(z[:, i], i, j) for i in range(4))
        assert torch.allclose(out[:, j], manual, atol=1e-5)


def test_kan_has_no_memory_across_steps():
    torch.manual_seed(0)
    m = KANClassifier(10, 3, hidden=[4])
    x = (torch.rand(2, 6, 10) < 0.5).float()
    full = m(x)
    assert torch.allclose(full[:, 3:4], m(x[:, 3:4]), atol=1e-6)


def test_lif_snn_uses_the_surrogate_and_is_causal():
    torch.manual_seed(0)
    m = LIFSNNClassifier(10, 3, n_hidden=8, init_gain=3.0)
    x = (torch.rand(2, 12, 10) < 0.5).float()
    out = m(x)
    assert 0 < m.layer_stats()["hidden"]["rate"].mean() < 1  # spikes flow (output depends on them)
    # causal: changing the future leaves the past unchanged
    x2 = x.clone()
    x2[:, 8:] = 1 - x2[:, 8:]
    assert torch.allclose(m(x2)[:, :8], out[:, :8])
    # the rectangle surrogate (width 1/slope around threshold) is what the backward pass uses
    assert m.surrogate.name == "rectangle"
    with pytest.raises(ValueError, match="surrogate"):
        LIFSNNClassifier(10, 3, surrogate="bogus")
    # forward spikes are exactly binary and a non-recurrent variant works
    LIFSNNClassifier(10, 3, n_hidden=4, recurrent=False)(x).sum().backward()


@pytest.mark.parametrize("name,cls,count", [("kan", KANClassifier, 129_640), ("lif_snn", LIFSNNClassifier, 108_692)])
def test_configs_instantiate(name, cls, count):
    import hydra

    cfg = OmegaConf.merge({"data": {"T": 100, "dt": 10.0}}, {"model": OmegaConf.load(ROOT / "configs/model" / f"{name}.yaml")})
    m = hydra.utils.instantiate(cfg.model, _convert_="all")
    assert isinstance(m, cls) and n_params(m) == count
