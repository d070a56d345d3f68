"""Real-data result runs (issue 8): each module trains and evaluates with the bundle's own commands.

    python -m results.nuclei2d   # UNet 2D with / without the boundary weight map
    python -m results.brain3d    # UNet and U2-Net-lite 3D on the held-out hemisphere

Each writes docs/results/<task>.json, a markdown table (docs/results/<task>.md) and PNG pictures in docs/images/.
"""
