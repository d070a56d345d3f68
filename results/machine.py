"""Where and when a measurement was taken: the record every result and benchmark JSON carries."""

from __future__ import annotations

import datetime
import os
import platform

from monai_unet_bundle.cpu_capability import cpu_bf16_support, cpu_model, describe_cpu


def machine_info() -> dict:
    """CPU model, its native bf16 unit, core count, load average, library versions and the UTC date, as a dict.

    The load average matters: on a shared machine the timings scale with it, so it travels with every number. The
    bf16 unit matters as much: it decides whether the bundle trains and predicts in bf16 (and how fast).
    """
    import monai
    import torch

    return {
        "cpu": cpu_model(),
        "cpu_bf16": cpu_bf16_support(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


def machine_summary(info: dict) -> str:
    """One line for a table: ``<cpu>, <n> cores, bf16: AMX | AVX512-BF16 | none [+ gpu]``.

    Records written before the bf16 field existed say ``bf16: not recorded``.
    """
    text = describe_cpu(info["cpu"], info["cpu_count"], info.get("cpu_bf16", "not recorded"))
    return text + (f" + {info['gpu']}" if info.get("gpu") else "")
