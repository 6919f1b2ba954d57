"""AverageMeter: the seed's arithmetic, lazy tensor conversion, precision, text forms."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metricwatch.torch import AverageMeter  # noqa: E402

pytestmark = pytest.mark.torch


class SeedAverageMeter:
    """The reference: AverageMeter exactly as in the metrics-tracking seed."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


UPDATES = [(2.5, 4), (1.0, 1), (0.125, 3), (7.0, 2)]


def test_matches_the_seed_meter_with_python_numbers():
    meter, seed = AverageMeter(), SeedAverageMeter()
    for val, n in UPDATES:
        meter.update(val, n)
        seed.update(val, n)
        assert (meter.val, meter.sum, meter.count, meter.avg) == (
            seed.val,
            seed.sum,
            seed.count,
            seed.avg,
        )
    assert type(meter.count) is int


def test_matches_the_seed_meter_with_tensors():
    meter, seed = AverageMeter(), SeedAverageMeter()
    for val, n in UPDATES:
        meter.update(torch.tensor(val), n)
        seed.update(val, n)
    assert meter.val == seed.val
    assert meter.sum == pytest.approx(seed.sum, abs=0)
    assert meter.count == seed.count
    assert meter.avg == pytest.approx(seed.avg, abs=1e-15)


def test_before_any_update_everything_is_zero():
    meter = AverageMeter()
    assert (meter.val, meter.avg, meter.sum, meter.count) == (0.0, 0.0, 0.0, 0)


def test_reset_forgets_everything():
    meter = AverageMeter()
    meter.update(torch.tensor(3.0), 2)
    meter.update(1.5, torch.tensor(2.0))
    meter.reset()
    assert (meter.val, meter.avg, meter.sum, meter.count) == (0.0, 0.0, 0.0, 0)
    meter.update(4.0)
    assert meter.avg == 4.0


def test_updates_do_not_bring_tensors_to_the_host(host_transfers):
    meter = AverageMeter()
    weight = torch.nn.Parameter(torch.tensor(2.0))
    for step in range(50):
        loss = weight * step  # requires grad, like a real loss
        meter.update(loss, 8)
        meter.update((torch.arange(4) == step % 4).float().mean(), torch.tensor(4))
    assert host_transfers == []
    average = meter.avg
    assert host_transfers == ["item"]  # reading avg costs exactly one transfer
    expected_sum = sum(2.0 * step * 8 + 0.25 * 4 for step in range(50))
    assert average == pytest.approx(expected_sum / (50 * 12))


def test_the_meter_holds_no_autograd_graph():
    weight = torch.nn.Parameter(torch.tensor(2.0))
    meter = AverageMeter()
    meter.update(weight * 3, 2)
    assert not meter._sum.requires_grad
    assert not meter._val.requires_grad


def test_long_sums_of_float32_tensors_keep_float64_precision():
    meter = AverageMeter()
    value = torch.tensor(0.1, dtype=torch.float32)
    for _ in range(20_000):
        meter.update(value, 3)
    # A float32 accumulator drifts by ~1e-5 relative here; float64 stays exact to ~1e-12.
    assert meter.avg == pytest.approx(float(value), rel=1e-12)
    assert meter.count == 60_000


VALUES_OF_0_1 = {
    "python": 0.1,
    "numpy": np.float64(0.1),
    "tensor64": torch.tensor(0.1, dtype=torch.float64),
}
WEIGHTS_OF_1 = {
    "python": 1,
    "numpy_int": np.int64(1),
    "int_tensor": torch.tensor(1),
    "int32_tensor": torch.tensor(1, dtype=torch.int32),
    "float_tensor": torch.tensor(1.0),
    "numpy_float": np.float32(1.0),
}


@pytest.mark.parametrize("n_kind", WEIGHTS_OF_1)
@pytest.mark.parametrize("val_kind", VALUES_OF_0_1)
def test_every_mix_of_value_and_weight_accumulates_in_float64(val_kind, n_kind):
    # 0.1 * torch.tensor(1) is float32 in torch: 0.1 becomes 0.10000000149 at once, and
    # 100,000 such updates averaged 0.0999856. float64 keeps 0.1 to ~1e-15.
    meter = AverageMeter()
    for _ in range(2_000):
        meter.update(VALUES_OF_0_1[val_kind], WEIGHTS_OF_1[n_kind])
    assert meter.avg == pytest.approx(0.1, rel=1e-12)
    assert meter.sum == pytest.approx(200.0, rel=1e-12)
    assert meter.count == 2_000


@pytest.mark.parametrize(
    "n",
    [np.int64(3), np.int32(3), np.uint8(3), torch.tensor(3), torch.tensor(3, dtype=torch.int16)],
)
def test_integer_weights_of_any_kind_keep_count_an_int(n):
    meter = AverageMeter()
    meter.update(0.5, n)
    meter.update(torch.tensor(1.5), n)
    meter.update(2.5, 2)
    assert meter.count == 8
    assert type(meter.count) is int
    assert meter.avg == pytest.approx((0.5 * 3 + 1.5 * 3 + 2.5 * 2) / 8, rel=1e-15)


def test_a_float_weight_after_integer_tensor_weights_makes_count_a_float():
    meter = AverageMeter()
    meter.update(torch.tensor(1.0), torch.tensor(2))
    meter.update(1.0, 0.5)
    assert meter.count == 2.5
    assert type(meter.count) is float
    assert meter.avg == 1.0


def test_numpy_scalars_and_fractional_weights():
    meter = AverageMeter()
    meter.update(np.float32(0.5), np.int64(2))
    meter.update(np.float64(2.0), 0.5)
    assert meter.sum == pytest.approx(2.0)
    assert meter.count == 2.5
    assert type(meter.count) is float
    assert meter.avg == pytest.approx(0.8)


def test_zero_weight_tensor_count_gives_zero_not_nan():
    meter = AverageMeter()
    meter.update(torch.tensor(5.0), torch.tensor(0))
    assert meter.avg == 0.0


def test_nan_values_propagate():
    meter = AverageMeter()
    meter.update(torch.tensor(1.0))
    meter.update(torch.tensor(float("nan")))
    assert math.isnan(meter.avg)


def test_multi_element_tensors_are_refused():
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        AverageMeter().update(torch.tensor([1.0, 2.0]))


def test_non_numbers_are_refused():
    with pytest.raises(TypeError, match="str"):
        AverageMeter().update("0.5")


def test_synchronize_is_a_no_op_when_not_distributed():
    meter = AverageMeter()
    meter.update(torch.tensor(2.0), 3)
    meter.synchronize()
    assert (meter.avg, meter.sum, meter.count) == (2.0, 6.0, 3)


def test_str_and_repr_show_name_value_and_average():
    meter = AverageMeter("train_loss", fmt=".3f")
    meter.update(torch.tensor(1.0), 3)
    meter.update(2.0, 1)
    assert str(meter) == "train_loss 2.000 (1.250)"
    assert repr(meter) == "AverageMeter(name='train_loss', val=2.000, avg=1.250, count=4)"
    assert str(AverageMeter()) == "0.0000 (0.0000)"
