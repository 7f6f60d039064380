"""``llmwarm.__all__``, the package's namespace, its docstrings and the API reference agree.

As httpx's ``tests/test_exported_members.py``: a name exported but undocumented, imported
into the package but left out of ``__all__``, or missing from ``docs/reference.md`` fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import llmwarm
from llmwarm._core import errors as _errors

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = [name for name in llmwarm.__all__ if name != "__version__"]


def _bound_in_init() -> set[str]:
    """The names ``llmwarm/__init__.py`` binds itself (imports, assignments, definitions)."""
    tree = ast.parse(Path(llmwarm.__file__).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_all_is_exactly_the_public_names_the_package_binds() -> None:
    public = {name for name in _bound_in_init() if not name.startswith("_")}
    assert set(EXPORTED) == public
    assert len(llmwarm.__all__) == len(set(llmwarm.__all__))
    # Nothing public reaches the namespace another way (a submodule is an attribute once
    # imported: only those exported on purpose count).
    attributes = {
        name
        for name, value in vars(llmwarm).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert attributes <= set(EXPORTED)


def test_all_is_sorted() -> None:
    assert sorted(EXPORTED) == EXPORTED


def test_every_exported_name_has_a_docstring() -> None:
    for name in EXPORTED:
        doc = inspect.getdoc(getattr(llmwarm, name)) or ""
        assert doc.strip(), f"llmwarm.{name} has no docstring"


def test_exported_exceptions_are_the_tree_under_llmwarm_error() -> None:
    exported = {
        name: value
        for name, value in ((n, getattr(llmwarm, n)) for n in EXPORTED)
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    for name, value in exported.items():
        assert issubclass(value, llmwarm.LLMWarmError), f"llmwarm.{name} is not an LLMWarmError"
    # ... and every error of the tree is exported.
    tree = {
        name
        for name, value in vars(_errors).items()
        if isinstance(value, type) and issubclass(value, llmwarm.LLMWarmError)
    }
    assert tree == set(exported)


def test_every_exported_name_is_rendered_in_the_api_reference(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    page = (tmp_path / "reference" / "index.html").read_text()
    anchors = set(re.findall(r'id="(llmwarm[\w.]*)"', page))
    missing = []
    for name in EXPORTED:
        value = getattr(llmwarm, name)
        # Rendered under the package's name, or where it is defined (a name that a
        # submodule of the same name hides from the renderer: llmwarm.warm).
        where = f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
        if isinstance(value, ModuleType):
            where = value.__name__
        if f"llmwarm.{name}" not in anchors and where not in anchors:
            missing.append(name)
    assert missing == []
