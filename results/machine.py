"""Where and when a measurement was taken: the record every result and benchmark JSON carries."""

from __future__ import annotations

import datetime
import os
import platform


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model, core count, load average, library versions and the UTC date, as a JSON-ready dict.

    The load average matters: on a shared machine the timings scale with it, so it travels with every number.
    """
    import monai
    import torch

    return {
        "cpu": _cpu_model(),
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
    """One line for a table: ``<cpu_count>-core <cpu> [+ gpu]``."""
    text = f"{info['cpu_count']}-core {info['cpu']}"
    return text + (f" + {info['gpu']}" if info.get("gpu") else "")
