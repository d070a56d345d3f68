"""Locate the real data files that pip-installed packages ship (files only: the packages are never imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: package -> (pinned version, install hint). Installed with ``pip install --no-deps`` by the Makefile.
DATA_PACKAGES = {"nilearn": "0.14.1", "stardist": "0.9.2"}


def package_file(package: str, relative_path: str) -> Path:
    """Return the path of ``relative_path`` inside the installed ``package`` without importing it.

    Raises:
        FileNotFoundError: naming the package, the file and the install command when either is missing.
    """
    hint = f"pip install --no-deps {package}=={DATA_PACKAGES.get(package, '')}".rstrip("=")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the data package '{package}' is not installed; run: {hint}")
    for root in spec.submodule_search_locations:
        candidate = Path(root) / relative_path
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"'{relative_path}' not found in the installed package '{package}' "
        f"({', '.join(spec.submodule_search_locations)}); reinstall it with: {hint}"
    )
