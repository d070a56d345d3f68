"""docs/errors.md is the bad-input matrix: every test it names exists, every matrix test is listed, every error
type of the checks is explained."""

from __future__ import annotations

import ast
import re

import monai_unet_bundle.checks as checks
from tests.conftest import REPO

DOC = REPO / "docs" / "errors.md"
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _test_functions(path) -> set[str]:
    tree = ast.parse((REPO / path).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_referenced_test_exists():
    references = _REFERENCE.findall(DOC.read_text())
    assert len(references) > 30
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (REPO / path).is_file() or name not in _test_functions(path)
    ]
    assert missing == []


def test_every_matrix_test_is_listed():
    listed = {f"{path}::{name}" for path, name in _REFERENCE.findall(DOC.read_text())}
    ours = {
        f"tests/errors/{p.name}::{name}"
        for p in (REPO / "tests" / "errors").glob("test_*.py")
        for name in _test_functions(f"tests/errors/{p.name}")
    } - {f"tests/errors/test_errors_doc.py::{name}" for name in _test_functions("tests/errors/test_errors_doc.py")}
    assert sorted(ours - listed) == []


def test_every_error_type_is_explained():
    text = DOC.read_text()
    errors = [name for name in checks.__all__ if name.endswith("Error") and name != "InputCheckError"]
    errors += ["NonFiniteLossError", "CheckpointError", "DatasetError"]
    assert [name for name in errors if f"{name}:" not in text] == []
    assert "only from sources you" in text and "trust" in text  # bundle configs run Python
