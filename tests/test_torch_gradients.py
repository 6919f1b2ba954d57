"""gradient_stats against the seed's per-parameter loop, and current_lr."""

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from metricwatch.torch import current_lr, current_lrs, gradient_stats  # noqa: E402

pytestmark = pytest.mark.torch


def seed_gradient_stats(model):
    """The reference: compute_gradient_stats exactly as in the metrics-tracking seed."""
    total_norm = 0.0
    max_norm = 0.0
    for _name, param in model.named_parameters():
        if param.grad is not None:
            param_norm = param.grad.data.norm(2).item()
            total_norm += param_norm**2
            max_norm = max(max_norm, param_norm)
    total_norm = total_norm**0.5
    return {"grad_norm": total_norm, "grad_max": max_norm}


def nan_aware_reference(model):
    """The seed's loop, but with a max that lets NaN through (Python's max() hides it)."""
    norms = [p.grad.norm(2).item() for p in model.parameters() if p.grad is not None]
    if not norms:
        return {"grad_norm": 0.0, "grad_max": 0.0}
    largest = math.nan if any(math.isnan(n) for n in norms) else max(norms)
    return {"grad_norm": math.sqrt(sum(n * n for n in norms)), "grad_max": largest}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
        )
        self.unused = nn.Linear(4, 4)  # never in the forward pass: no gradient
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)

    def forward(self, inputs):
        return self.layers(inputs) * self.frozen

    def __getitem__(self, index):
        return self.layers[index]


def make_model(seed=0):
    torch.manual_seed(seed)
    return Net()


def backward(model, scale=1.0):
    inputs = torch.randn(32, 8)
    loss = model(inputs).pow(2).mean() * scale
    loss.backward()
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e4])
def test_matches_the_seed_loop(seed, scale):
    model = backward(make_model(seed), scale)
    expected = seed_gradient_stats(model)
    got = gradient_stats(model)
    assert set(got) == {"grad_norm", "grad_max"}
    assert all(type(value) is float for value in got.values())
    assert got["grad_norm"] == pytest.approx(expected["grad_norm"], rel=1e-6)
    assert got["grad_max"] == pytest.approx(expected["grad_max"], rel=1e-6)
    assert got["grad_max"] <= got["grad_norm"]


def test_uses_exactly_one_host_transfer(host_transfers):
    model = backward(make_model())
    assert len([p for p in model.parameters() if p.grad is not None]) == 6
    gradient_stats(model)
    assert host_transfers == ["tolist"]


def test_the_reference_loop_would_need_one_transfer_per_parameter(host_transfers):
    # Guards the counting fixture itself: it does see the seed loop's .item() calls.
    model = backward(make_model())
    seed_gradient_stats(model)
    assert host_transfers.count("item") == 6


NO_GRAD_WARNING = r"no parameter has a \.grad.*after loss\.backward\(\) and before .*zero_grad"


def test_no_gradients_gives_zeros_and_a_warning_without_any_transfer(host_transfers):
    model = make_model()
    with pytest.warns(UserWarning, match=NO_GRAD_WARNING):
        assert gradient_stats(model) == {"grad_norm": 0.0, "grad_max": 0.0}
    with pytest.warns(UserWarning, match=NO_GRAD_WARNING):
        assert gradient_stats([]) == {"grad_norm": 0.0, "grad_max": 0.0}
    assert host_transfers == []


def test_warns_when_called_after_zero_grad():
    model = backward(make_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad(set_to_none=True)
    with pytest.warns(UserWarning, match=NO_GRAD_WARNING) as record:
        assert gradient_stats(model) == {"grad_norm": 0.0, "grad_max": 0.0}
    assert record[0].filename == __file__  # points at the caller, not at metricwatch


def test_warns_when_every_parameter_is_frozen():
    model = make_model()
    model.requires_grad_(False)  # e.g. a frozen backbone passed on its own
    model(torch.randn(2, 8)).sum()  # a forward pass, but nothing to backward through
    with pytest.warns(UserWarning, match=NO_GRAD_WARNING):
        assert gradient_stats(model.named_parameters()) == {"grad_norm": 0.0, "grad_max": 0.0}


def test_no_warning_when_gradients_are_real_zeros(recwarn):
    model = backward(make_model(), scale=0.0)
    assert gradient_stats(model) == {"grad_norm": 0.0, "grad_max": 0.0}
    assert [w for w in recwarn if issubclass(w.category, UserWarning)] == []


def test_nan_gradient_gives_nan_not_an_exception():
    model = backward(make_model())
    model[2].weight.grad[0, 0] = math.nan
    got = gradient_stats(model)
    assert math.isnan(got["grad_norm"])
    assert math.isnan(got["grad_max"])
    reference = nan_aware_reference(model)
    assert math.isnan(reference["grad_norm"]) and math.isnan(reference["grad_max"])
    # The seed's max(max_norm, nan) keeps the old maximum, hiding the NaN.
    assert not math.isnan(seed_gradient_stats(model)["grad_max"])


def test_inf_gradient_gives_inf():
    model = backward(make_model())
    model[0].bias.grad[1] = math.inf
    got = gradient_stats(model)
    assert got == {"grad_norm": math.inf, "grad_max": math.inf}
    assert got == seed_gradient_stats(model)


def test_inf_and_nan_together_give_nan():
    model = backward(make_model())
    model[0].bias.grad[1] = -math.inf
    model[4].bias.grad[0] = math.nan
    got = gradient_stats(model)
    assert math.isnan(got["grad_norm"]) and math.isnan(got["grad_max"])


def test_accepts_parameters_tensors_and_named_parameters():
    model = backward(make_model())
    expected = gradient_stats(model)
    assert gradient_stats(model.parameters()) == expected
    assert gradient_stats(list(model.parameters())) == expected
    assert gradient_stats(model.named_parameters()) == expected
    only = model[2].weight
    single = gradient_stats(only)
    assert single["grad_norm"] == pytest.approx(only.grad.norm().item(), rel=1e-6)
    assert single["grad_max"] == single["grad_norm"]


def test_plain_leaf_tensors_with_gradients():
    a = torch.tensor([3.0, 4.0], requires_grad=True)  # grad norm 12 after the backward below
    b = torch.tensor([1.0], requires_grad=True)
    c = torch.tensor([5.0], requires_grad=True)  # not used: no grad
    ((a * a).sum() * 1.5 + b.sum() * 0).backward()
    got = gradient_stats([a, b, c])
    assert got["grad_norm"] == pytest.approx(15.0)  # 1.5 * 2 * |(3, 4)| = 15, b's grad is 0
    assert got["grad_max"] == pytest.approx(15.0)


def test_mixed_dtypes_and_low_precision_gradients():
    torch.manual_seed(0)
    wide = nn.Linear(10, 10).double()
    narrow = nn.Linear(10, 10).to(torch.bfloat16)
    # 300 gradients of 20.0: a bf16/fp16 sum of squares would lose precision or overflow.
    big = nn.Parameter(torch.zeros(300, dtype=torch.float16))
    big.grad = torch.full((300,), 20.0, dtype=torch.float16)
    wide(torch.randn(4, 10, dtype=torch.float64)).sum().backward()
    narrow(torch.randn(4, 10, dtype=torch.bfloat16)).sum().backward()
    params = [*wide.parameters(), *narrow.parameters(), big]
    norms = [p.grad.double().norm().item() for p in params]
    got = gradient_stats(params)
    assert got["grad_norm"] == pytest.approx(math.sqrt(sum(n * n for n in norms)), rel=1e-3)
    assert got["grad_max"] == pytest.approx(20.0 * math.sqrt(300), rel=1e-3)


def test_sparse_gradients():
    embedding = nn.Embedding(50, 4, sparse=True)
    embedding(torch.tensor([1, 2, 2, 7])).sum().backward()
    assert embedding.weight.grad.is_sparse
    dense_norm = embedding.weight.grad.to_dense().norm().item()
    assert gradient_stats(embedding)["grad_norm"] == pytest.approx(dense_norm)


def test_rejects_things_that_are_not_tensors():
    with pytest.raises(TypeError, match="str"):
        gradient_stats(["weight"])
    with pytest.raises(TypeError, match="expected a Module or tensors, got str"):
        gradient_stats("weight")


def test_a_dict_of_parameters_gets_a_clear_error_and_its_values_work():
    model = backward(make_model())
    params = dict(model.named_parameters())
    with pytest.raises(TypeError, match=r"got a dict.*model\.parameters\(\).*\.values\(\)"):
        gradient_stats(params)
    assert gradient_stats(params.values()) == gradient_stats(model)
    with pytest.raises(TypeError, match="mapping"):
        gradient_stats(model.state_dict())  # an OrderedDict: a Mapping too


def test_docstring_covers_amp_and_sharded_training():
    doc = " ".join(gradient_stats.__doc__.split())
    assert "scaler.unscale_(optimizer)" in doc
    assert "loss scale" in doc
    assert "FSDP" in doc and "ZeRO" in doc and "shard" in doc


# --- current_lr ------------------------------------------------------------------------------


def make_optimizer():
    model = make_model()
    return torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.1},
            {"params": model[2].parameters(), "lr": 0.01},
            {"params": model[4].parameters()},
        ],
        lr=0.5,
    )


def test_current_lr_is_the_first_group_and_all_groups_lists_them():
    optimizer = make_optimizer()
    assert current_lr(optimizer) == 0.1
    assert current_lr(optimizer, all_groups=True) == [0.1, 0.01, 0.5]
    assert current_lrs(optimizer) == [0.1, 0.01, 0.5]


def test_current_lr_follows_the_scheduler():
    optimizer = make_optimizer()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert current_lr(optimizer) == pytest.approx(0.05)
    assert current_lr(scheduler, all_groups=True) == pytest.approx([0.05, 0.005, 0.25])
    assert current_lrs(scheduler) == pytest.approx(scheduler.get_last_lr())


def test_current_lr_of_a_tensor_lr_is_a_float():
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.003))
    lr = current_lr(optimizer)
    assert type(lr) is float
    assert lr == pytest.approx(0.003)


def test_current_lr_refuses_what_is_not_an_optimizer():
    with pytest.raises(TypeError, match="optimizer"):
        current_lr(object())
