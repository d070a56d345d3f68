"""Segmentation networks: the U-Net family."""

from monai_unet_bundle.networks.batch_norm_statistics import freeze_batch_norm_statistics
from monai_unet_bundle.networks.u2net import U2Net
from monai_unet_bundle.networks.unet import UNet

__all__ = ["U2Net", "UNet", "freeze_batch_norm_statistics"]
