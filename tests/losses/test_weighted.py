import pytest
import torch
import torch.nn.functional as F
from monai.losses import DeepSupervisionLoss, DiceLoss
from monai_unet_bundle.losses import DistanceWeightedLoss


def make(b=2, c=3, shape=(6, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, *shape, generator=g, dtype=dtype)
    target = torch.randint(0, c, (b, 1, *shape), generator=g)
    weight = torch.rand(b, 1, *shape, generator=g, dtype=dtype) * 5 + 0.5
    return logits, target, weight


def test_unit_weights_equal_plain_cross_entropy():
    logits, target, _ = make()
    expected = F.cross_entropy(logits, target[:, 0])
    loss = DistanceWeightedLoss(softmax=True)
    torch.testing.assert_close(loss(logits, target, torch.ones_like(target, dtype=torch.float32)), expected)
    torch.testing.assert_close(loss(logits, target), expected)
    one_hot = F.one_hot(target[:, 0], 3).movedim(-1, 1).float()
    torch.testing.assert_close(loss(logits, one_hot), expected)
    # float labels as they come out of LoadImaged
    torch.testing.assert_close(loss(logits, target.float()), expected)


def test_sigmoid_unit_weights_equal_bce():
    logits, target, _ = make(c=1)
    target = target.clamp(max=1).float()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    loss = DistanceWeightedLoss(softmax=False, sigmoid=True)
    torch.testing.assert_close(loss(logits, target, torch.ones_like(target)), expected)


def test_weighted_value_is_mean_of_weight_times_ce():
    logits, target, weight = make()
    ce = F.cross_entropy(logits, target[:, 0], reduction="none")[:, None]
    torch.testing.assert_close(DistanceWeightedLoss()(logits, target, weight), (ce * weight).mean())
    total = DistanceWeightedLoss(reduction="sum")(logits, target, weight)
    torch.testing.assert_close(total, (ce * weight).sum())
    per_pixel = DistanceWeightedLoss(reduction="none")(logits, target, weight)
    torch.testing.assert_close(per_pixel, ce * weight)


def test_heavier_weight_raises_loss_and_gradient_where_it_sits():
    logits, target, _ = make(seed=1)
    logits.requires_grad_(True)
    ones = torch.ones_like(target, dtype=torch.float32)
    heavy = ones.clone()
    heavy[0, 0, 2, 3] = 10.0
    loss = DistanceWeightedLoss()
    base = loss(logits, target, ones)
    (grad_base,) = torch.autograd.grad(base, logits)
    raised = loss(logits, target, heavy)
    (grad_heavy,) = torch.autograd.grad(raised, logits)
    ce_pixel = F.cross_entropy(logits[:1, :, 2:3, 3:4], target[:1, 0, 2:3, 3:4])
    torch.testing.assert_close(raised - base, 9.0 * ce_pixel / target.numel())
    torch.testing.assert_close(grad_heavy[0, :, 2, 3], 10.0 * grad_base[0, :, 2, 3])
    mask = torch.ones_like(grad_base, dtype=torch.bool)
    mask[0, :, 2, 3] = False
    torch.testing.assert_close(grad_heavy[mask], grad_base[mask])


@pytest.mark.parametrize("softmax", [True, False])
def test_gradcheck_float64(softmax):
    logits, target, weight = make(b=1, c=2, shape=(3, 3), seed=2, dtype=torch.float64)
    logits.requires_grad_(True)
    loss = DistanceWeightedLoss(softmax=softmax, sigmoid=not softmax, lambda_dice=0.5)
    one_hot = F.one_hot(target[:, 0], 2).movedim(-1, 1).double()
    assert torch.autograd.gradcheck(lambda x: loss(x, one_hot, weight), (logits,))


def test_dice_term_adds_monai_dice():
    logits, target, weight = make(seed=3)
    combined = DistanceWeightedLoss(lambda_ce=0.7, lambda_dice=0.3)(logits, target, weight)
    ce_only = DistanceWeightedLoss()(logits, target, weight)
    dice = DiceLoss(softmax=True, to_onehot_y=True)(logits, target)
    torch.testing.assert_close(combined, 0.7 * ce_only + 0.3 * dice)


def test_weight_in_target_and_deep_supervision():
    logits, target, weight = make(shape=(8, 8), seed=4)
    packed = torch.cat([target.float(), weight], dim=1)
    direct = DistanceWeightedLoss()(logits, target, weight)
    torch.testing.assert_close(DistanceWeightedLoss(weight_in_target=True)(logits, packed), direct)
    # seven full-resolution outputs (U2-Net): DeepSupervisionLoss weights 1, 1/2, 1/4, ... (floored at 1/16)
    outputs = [logits * (1 + 0.1 * i) for i in range(7)]
    ds = DeepSupervisionLoss(DistanceWeightedLoss(weight_in_target=True), weight_mode="exp")
    expected = sum(max(0.5**i, 0.0625) * DistanceWeightedLoss()(out, target, weight) for i, out in enumerate(outputs))
    torch.testing.assert_close(ds(outputs, packed), expected)
    # a half-resolution output gets the target and its weight resized together ("nearest-exact": odd pixels)
    small = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(
        ds([logits, small], packed),
        direct + 0.5 * DistanceWeightedLoss()(small, target[..., 1::2, 1::2], weight[..., 1::2, 1::2]),
    )


def test_bf16_input_is_computed_in_float32():
    logits, target, weight = make(seed=5)
    out = DistanceWeightedLoss()(logits.bfloat16(), target, weight)
    assert out.dtype == torch.float32


def test_bad_arguments():
    logits, target, weight = make()
    with pytest.raises(ValueError, match="exactly one"):
        DistanceWeightedLoss(softmax=True, sigmoid=True)
    with pytest.raises(ValueError, match="reduction"):
        DistanceWeightedLoss(reduction="max")
    with pytest.raises(ValueError, match="Dice"):
        DistanceWeightedLoss(reduction="none", lambda_dice=1.0)
    with pytest.raises(ValueError, match="weight must have shape"):
        DistanceWeightedLoss()(logits, target, weight[:, :, :3])
    with pytest.raises(ValueError, match="class indices"):
        DistanceWeightedLoss()(logits, target + 3, weight)
    with pytest.raises(ValueError, match="softmax needs"):
        DistanceWeightedLoss()(logits[:, :1], target.clamp(max=0), weight)
    with pytest.raises(ValueError, match="weight_in_target"):
        DistanceWeightedLoss(weight_in_target=True)(logits, torch.cat([target, weight], 1), weight)
