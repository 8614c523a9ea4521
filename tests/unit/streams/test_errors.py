"""riskmon's error tree: every error class riskmon defines derives from RiskmonError, says itself
whether it is retriable, and is drawn in streams.errors' docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import dashboard_ws
import streams
import streams.errors
from streams.errors import RiskmonError


def all_modules() -> list[ModuleType]:
    """Every module of streams and dashboard_ws (``__main__`` would run the command)."""
    modules = []
    for package in (streams, dashboard_ws):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] != "__main__":
                modules.append(importlib.import_module(info.name))
    return modules


def defined_errors() -> set[type[BaseException]]:
    """The exception classes defined (not imported) by riskmon's modules."""
    return {
        obj
        for module in all_modules()
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == module.__name__
    }


def tree(root: type[RiskmonError]) -> set[type[RiskmonError]]:
    found: set[type[RiskmonError]] = set()
    for child in root.__subclasses__():
        found |= {child} | tree(child)
    return found


def test_every_riskmon_error_class_is_in_the_tree() -> None:
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in defined_errors()
        if not issubclass(cls, RiskmonError)
    )
    assert not outside, f"error classes outside RiskmonError: {outside}"


def test_every_class_of_the_tree_says_whether_it_is_retriable() -> None:
    all_modules()  # every subclass is defined
    classes = tree(RiskmonError)
    assert len(classes) >= 12
    for cls in classes | {RiskmonError}:
        assert "retriable" in vars(cls), f"{cls.__qualname__} does not set retriable itself"
        assert isinstance(cls.retriable, bool), cls.__qualname__


def test_the_docstring_draws_every_class() -> None:
    all_modules()
    doc = streams.errors.__doc__ or ""
    missing = sorted(cls.__name__ for cls in tree(RiskmonError) if cls.__name__ not in doc)
    assert not missing, f"streams/errors.py's tree does not draw {missing}"


@pytest.mark.parametrize(
    ("module", "name", "builtin"),
    [
        ("streams.settings", "SettingMissing", ValueError),
        ("streams.city.config", "CityConfigError", ValueError),
        ("streams.city.importer", "CityImportError", ValueError),
        ("streams.city.synth", "SynthError", ValueError),
        ("streams.ops.topics", "TopicMismatch", ValueError),
        ("streams.cli.detect", "BadInput", ValueError),
    ],
)
def test_existing_bases_are_kept(module: str, name: str, builtin: type[Exception]) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, RiskmonError)
    assert issubclass(cls, builtin)  # callers catching ValueError still catch it
    assert cls.retriable is False


def test_transient_and_permanent_examples() -> None:
    from streams.persistence.checkpoints import CheckpointUnavailable
    from streams.pipeline.ingest import Rejected

    assert CheckpointUnavailable.retriable is True  # PostgreSQL down: the next save may work
    assert Rejected.retriable is False  # the same bytes are rejected every time
    assert RiskmonError.retriable is False


def test_errors_module_imports_nothing_of_streams() -> None:
    source = inspect.getsource(streams.errors)
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all("streams" not in line and "dashboard_ws" not in line for line in imports), imports
