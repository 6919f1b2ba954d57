import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: Tensor methods that bring a value to the host: each is a device sync on a GPU.
HOST_TRANSFERS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def host_transfers(monkeypatch):
    """Counts every call of a Tensor method that brings a value to the host."""
    torch = pytest.importorskip("torch")
    calls = []
    for name in HOST_TRANSFERS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return calls
