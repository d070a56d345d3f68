import pytest
import torch
from monai.engines import SupervisedTrainer
from monai.losses import DeepSupervisionLoss
from monai_unet_bundle.engines import PrepareBatchWeightInTarget
from monai_unet_bundle.losses import DistanceWeightedLoss


def batches(weight_value: float):
    g = torch.Generator().manual_seed(0)
    image = torch.randn(2, 1, 8, 8, generator=g)
    label = (image > 0).float()
    weight = torch.full((2, 1, 8, 8), 1.0)
    weight[:, :, 2:5, 2:5] = weight_value
    return [{"image": image, "label": label, "weight": weight}]


class TwoHeads(torch.nn.Module):
    """A 1x1 conv with a deep-supervision style list output in training mode."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)

    def forward(self, x):
        out = self.conv(x)
        return [out, 0.5 * out] if self.training else out


@pytest.mark.parametrize("deep_supervision", [False, True])
def test_supervised_trainer_passes_the_weight_to_the_loss(deep_supervision):
    losses = {}
    for weight_value in (1.0, 20.0):
        torch.manual_seed(0)
        net = TwoHeads() if deep_supervision else torch.nn.Conv2d(1, 2, 1)
        loss = DistanceWeightedLoss(weight_in_target=True)
        loss_fn = DeepSupervisionLoss(loss, weight_mode="same") if deep_supervision else loss
        data = batches(weight_value)
        trainer = SupervisedTrainer(
            device=torch.device("cpu"),
            max_epochs=1,
            train_data_loader=data,
            network=net,
            optimizer=torch.optim.SGD(net.parameters(), lr=0.0),  # keep the network fixed to check the value
            loss_function=loss_fn,
            prepare_batch=PrepareBatchWeightInTarget("weight"),
            decollate=False,
        )
        trainer.run()
        net.eval()
        with torch.no_grad():
            logits = net(data[0]["image"])
            expected = DistanceWeightedLoss()(logits, data[0]["label"], data[0]["weight"])
            if deep_supervision:  # second head: 0.5 * logits, DeepSupervisionLoss weight 1 ("same")
                expected = expected + DistanceWeightedLoss()(0.5 * logits, data[0]["label"], data[0]["weight"])
        assert trainer.state.output["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
        losses[weight_value] = trainer.state.output["loss"].item()
    assert losses[20.0] > losses[1.0]


def test_missing_weight_is_a_clear_error():
    with pytest.raises(KeyError, match="weight"):
        PrepareBatchWeightInTarget("weight")({"image": torch.zeros(1, 1, 4, 4), "label": torch.zeros(1, 1, 4, 4)})
    with pytest.raises(ValueError, match="must be"):
        PrepareBatchWeightInTarget("weight")(
            {"image": torch.zeros(1, 1, 4, 4), "label": torch.zeros(1, 1, 4, 4), "weight": torch.ones(1, 2, 4, 4)}
        )
