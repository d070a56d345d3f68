"""Command line: ``python -m monai_unet_bundle demo`` (the main job on the embedded data), ``plan`` and ``predict``."""

from __future__ import annotations

import sys

COMMANDS = {
    "demo": "train on the embedded brain3d data, infer on the held-out hemisphere, report Dice and a picture",
    "plan": "fingerprint a dataset and write its plan.yaml (spacing, patch, network, scaling, schedule)",
    "predict": "segment image files / folders / datalists with a trained model (configs/inference.yaml)",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            "usage: python -m monai_unet_bundle {"
            + ",".join(COMMANDS)
            + "} ...\n"
            + "\n".join(f"  {name:8s} {text}" for name, text in COMMANDS.items()),
            file=sys.stderr,
        )
        return 2
    if argv[0] == "demo":
        from .demo import main as demo_main

        return demo_main(argv[1:])
    if argv[0] == "plan":
        from .planning.cli import main as plan_main

        return plan_main(argv[1:])
    if argv[0] == "predict":
        from .prediction.predict import main as predict_main

        return predict_main(argv[1:])
    return 2


if __name__ == "__main__":
    sys.exit(main())
