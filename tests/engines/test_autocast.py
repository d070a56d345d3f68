"""CPU bf16 autocast for MONAI engines: what is chosen per device, and that it really runs in bf16."""

from __future__ import annotations

import pytest
import torch
from monai.engines import SupervisedTrainer
from monai_unet_bundle.engines.autocast import AutocastInferer, cpu_has_fast_bf16, native_amp


def test_choice_per_device():
    assert native_amp("cuda", True) is True and native_amp("cpu", True) is False
    assert native_amp(torch.device("cuda:0"), False) is False
    assert AutocastInferer("cuda", True).dtype is None and AutocastInferer("cpu", False).dtype is None
    assert AutocastInferer("cpu", True).dtype == (torch.bfloat16 if cpu_has_fast_bf16() else None)


class _RecordDtype(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.seen: list[torch.dtype] = []

    def forward(self, x):
        y = self.linear(x)
        self.seen.append(y.dtype)
        return y


@pytest.mark.parametrize("inferer", [None, AutocastInferer("cpu", True, dtype=torch.bfloat16)])
def test_trainer_iteration_runs_under_autocast(inferer):
    torch.manual_seed(0)
    net = _RecordDtype()
    data = [{"image": torch.randn(3, 4), "label": torch.randint(0, 2, (3,))} for _ in range(2)]
    before = net.linear.weight.detach().clone()
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=data,
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=torch.nn.CrossEntropyLoss(),
        inferer=inferer,
    )
    trainer.run()
    assert net.seen == [torch.bfloat16 if inferer else torch.float32] * 2
    # parameters stay fp32 and are updated
    assert net.linear.weight.dtype == torch.float32 and not torch.equal(before, net.linear.weight)


def test_outputs_reach_the_loss_in_float32():
    torch.manual_seed(0)
    net, dtypes = _RecordDtype(), []

    def loss(pred, target):
        dtypes.append(pred.dtype)
        return torch.nn.functional.cross_entropy(pred, target)

    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=[{"image": torch.randn(3, 4), "label": torch.randint(0, 2, (3,))}],
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=loss,
        inferer=AutocastInferer("cpu", True, dtype=torch.bfloat16),
    )
    trainer.run()
    assert net.seen == [torch.bfloat16] and dtypes == [torch.float32]
