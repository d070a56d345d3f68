"""Segmentation networks: the U-Net family."""

from monai_unet_bundle.networks.unet import UNet

__all__ = ["UNet"]
