"""Folders talk through public seams: no private name of another folder is imported or read.

Each top-level folder of ``llmwarm/`` (``pool/``, ``cache/``, ``trace/``...) may use its own
private modules and names. From another folder it imports only public names of public
modules; ``_core/`` (the shared engine, whose modules carry no second underscore) and the
package root's ``_version``/``_handles`` are shared by all. Attributes that used to be read
across modules, and now have a public seam in ``_core``, are denied outside their owner.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llmwarm"

#: Private attributes with a public seam now, and the modules that own them.
DENIED_ATTRIBUTES = {
    "_self_llmwarm": {"_core/driver.py"},  # stack_state(fn)
    "_self_parent": {"_core/driver.py"},  # stack_state(bound method)
    "_binder": {"_core/call.py"},  # Call.positional_names, Call.get
    "_current": {"_core/call.py"},  # enter_record/leave_record, current_record()
    "_ext": {"_core/call.py"},  # CallRecord.get/set with a SlotKey
    "_extra": set(),  # gone: CallRecord.get/set with a SlotKey
    "_internal": set(),  # a third party's private module (OpenTelemetry's)
    "_TRACER_PROVIDER": set(),  # OpenTelemetry's private globals: its getters are public
    "_METER_PROVIDER": set(),
}

#: Modules of the package root shared by every folder, as `_core` is.
SHARED_ROOT = {"llmwarm._version", "llmwarm._handles"}

#: Breaks still in the code, each with the change that folds it in.
KNOWN: dict[tuple[str, str], str] = {}


def _folder(relative: str) -> str:
    """The top-level folder a module belongs to ("" for the package root's modules)."""
    parts = relative.split("/")
    return parts[0] if len(parts) > 1 else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@functools.cache
def _folders() -> frozenset[str]:
    return frozenset(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


@functools.cache
def _own_classes() -> frozenset[str]:
    """Names of the classes llmwarm defines (telling a third party's class by name is fine)."""
    return frozenset(
        node.name
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    )


def _folder_of(module: str) -> str | None:
    """The folder an ``llmwarm`` module path lies in ("" for the root's), None for others."""
    parts = module.split(".")
    if parts[0] != "llmwarm":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in _folders() else ""


def _private_module(module: str, importer: str) -> bool:
    """Whether importing ``module`` from folder ``importer`` reaches another's private module."""
    parts = module.split(".")
    folder = _folder_of(module)
    if folder is None:
        return any(_private(part) for part in parts[1:])  # a third party's private module
    if folder == importer or module in SHARED_ROOT:
        return False
    # `llmwarm._core` is a private folder shared by all: only its modules' names count.
    return any(_private(part) for part in parts[1 if folder == "" else 2 :])


def violations(source: str, relative: str) -> Iterator[str]:
    """Yield each cross-folder private reach in one module's ``source``."""
    importer = _folder(relative)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = node.module
            if (relative, module) in KNOWN:
                continue
            if _private_module(module, importer):
                yield f"{relative}:{node.lineno} imports the private module {module}"
                continue
            if _folder_of(module) in (None, importer):
                continue
            for alias in node.names:
                if _private(alias.name):
                    yield f"{relative}:{node.lineno} imports {module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _private_module(alias.name, importer):
                    yield f"{relative}:{node.lineno} imports the private module {alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in DENIED_ATTRIBUTES
            and relative not in DENIED_ATTRIBUTES[node.attr]
        ):
            yield f"{relative}:{node.lineno} reads .{node.attr}"
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Attribute)
            and node.left.attr == "__name__"
            and any(
                isinstance(c, ast.Constant) and c.value in _own_classes() for c in node.comparators
            )
        ):
            yield f"{relative}:{node.lineno} tells a class by its name (declare a capability)"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reaches_into_another_folders_private_names(path: Path) -> None:
    relative = path.relative_to(PACKAGE).as_posix()
    found = list(violations(path.read_text(encoding="utf-8"), relative))
    assert found == []


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("from llmwarm.trace._semconv import SCOPE_NAME", "cache/_cached.py"),
        ("from llmwarm._core.streams import _stream_types", "pool/_pooled.py"),
        ("from llmwarm._core.call import _current", "route/_steps.py"),
        ("import llmwarm.warm._learn", "config/_from_config.py"),
        ("from opentelemetry.metrics._internal import _METER_PROVIDER", "trace/_traced.py"),
        ("state = stack._self_llmwarm", "warm/_warm.py"),
        ("name = call._binder.positional[0]", "batch/_batched.py"),
        ("_call._current.set(record)", "route/_steps.py"),
        ("record.extra; record._extra", "cache/_cached.py"),
        ("if type(policy).__name__ == 'PooledPolicy': pass", "cache/_cached.py"),
        ("_trace_module._TRACER_PROVIDER is None", "trace/_traced.py"),
    ],
)
def test_the_check_catches_each_kind_of_reach(source: str, relative: str) -> None:
    assert list(violations(source, relative)) != []


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("from llmwarm.trace._semconv import SCOPE_NAME", "trace/_traced.py"),  # own folder
        ("from llmwarm._core.streams import _stream_types", "_core/driver.py"),  # own folder
        ("from llmwarm._core import Call, enter_record", "route/_steps.py"),
        ("from llmwarm._core import call_stats as _stats", "cache/_cached.py"),  # an alias
        ("from llmwarm._version import __version__", "trace/_traced.py"),
        ("from llmwarm.cache import cached", "config/_from_config.py"),
        ("self._ext = None", "_core/call.py"),  # the owner
    ],
)
def test_the_check_lets_public_seams_and_own_names_through(source: str, relative: str) -> None:
    assert list(violations(source, relative)) == []


def test_every_known_break_still_exists() -> None:
    """A break folded in elsewhere must leave this list too, so the list stays honest."""
    for relative, module in KNOWN:
        assert f"from {module} import" in (PACKAGE / relative).read_text(encoding="utf-8")
