"""UNet and U2-Net segmentation for MONAI bundles."""

__version__ = "0.1.0"
