"""Loading handler folders from functions directories into a registry.

A functions directory contains one folder per function, named after the
function, with a ``handler.py`` that defines ``handle(event, context)``. Each
folder is imported as its own package under a unique module name, so two
folders may both have ``handler.py`` and a handler may import its siblings
with relative imports (``from .helpers import tokenize``). Folders whose name
starts with ``.`` or ``_`` and folders without ``handler.py`` are skipped.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import itertools
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

from walle_ray.errors import WalleError
from walle_ray.gateway.builtins import builtin_functions
from walle_ray.gateway.functions import FunctionRegistry, LocalFunction
from walle_ray.spec import FUNCTION_PATTERN

logger = logging.getLogger(__name__)

HANDLER_FILE = "handler.py"

_package_numbers = itertools.count(1)


class FunctionLoadError(WalleError):
    """A functions directory or one of its handler folders cannot be loaded."""


def load_registry(functions_dirs: Sequence[Path | str] = ()) -> FunctionRegistry:
    """Build a registry of the built-in functions plus every handler folder.

    A folder named like a built-in replaces the built-in. Raises
    ``FunctionLoadError`` if a directory is missing, a handler fails to import,
    or two directories define the same function.
    """
    registry = FunctionRegistry(builtin_functions())
    loaded_from: dict[str, Path] = {}
    for folder in _find_handler_folders(functions_dirs):
        name = folder.name
        if name in loaded_from:
            raise FunctionLoadError(
                f"function {name!r} is defined twice, in {loaded_from[name]} and "
                f"in {folder}; rename or remove one of the folders"
            )
        loaded_from[name] = folder
        function = load_handler_folder(folder)
        existing = registry.get(name)
        if existing is not None and existing.is_builtin:
            logger.info(
                "handler folder %s overrides built-in function %r", folder, name
            )
        registry.add(function)
    return registry


def _find_handler_folders(functions_dirs: Sequence[Path | str]) -> Iterator[Path]:
    for functions_dir in map(Path, functions_dirs):
        if not functions_dir.is_dir():
            state = "is not a directory" if functions_dir.exists() else "does not exist"
            raise FunctionLoadError(
                f"functions directory {functions_dir} {state}; pass a directory "
                "that contains one folder per function"
            )
        for folder in sorted(functions_dir.iterdir()):
            if folder.name.startswith((".", "_")) or not folder.is_dir():
                continue
            if not (folder / HANDLER_FILE).is_file():
                logger.debug("skipping %s because it has no %s", folder, HANDLER_FILE)
                continue
            yield folder


def load_handler_folder(folder: Path) -> LocalFunction:
    """Import ``folder/handler.py`` and return its ``handle`` as a function.

    The function is named after the folder. Raises ``FunctionLoadError`` naming
    the folder if the name is invalid, the import fails or ``handle`` is missing
    or does not accept ``(event, context)``.
    """
    name = folder.name
    if not FUNCTION_PATTERN.fullmatch(name):
        raise FunctionLoadError(
            f"invalid function folder name {name!r} in {folder.parent}: use "
            "letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    module = _import_handler_module(folder)
    handle = getattr(module, "handle", None)
    if not callable(handle):
        raise FunctionLoadError(
            f"{folder / HANDLER_FILE} defines no function 'handle'; define "
            "handle(event, context) as in the OpenFaaS python3-http template"
        )
    _check_signature(handle, folder)
    labels = {"walle.source": "folder", "walle.path": str(folder.resolve())}
    return LocalFunction(name, handle, str(folder), labels)


def _import_handler_module(folder: Path) -> ModuleType:
    # The folder becomes a package with a unique name, which lets handler.py
    # use relative imports without clashing with other folders.
    identifier = re.sub(r"\W", "_", folder.name)
    package_name = f"walle_function_{next(_package_numbers)}_{identifier}"
    spec = importlib.machinery.ModuleSpec(package_name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    sys.modules[package_name] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module(f"{package_name}.handler")
    except Exception as exc:
        _forget_package(package_name)
        raise FunctionLoadError(
            f"failed to import function {folder.name!r} from "
            f"{folder / HANDLER_FILE}: {type(exc).__name__}: {exc}. Fix the handler "
            f"or move the folder {folder} out of the functions directory"
        ) from exc


def _forget_package(package_name: str) -> None:
    for module_name in list(sys.modules):
        if module_name == package_name or module_name.startswith(f"{package_name}."):
            del sys.modules[module_name]


def _check_signature(handle: Callable[..., object], folder: Path) -> None:
    try:
        signature = inspect.signature(handle)
    except (TypeError, ValueError):
        return  # Some callables, such as C functions, have no signature to inspect.
    try:
        signature.bind(None, None)
    except TypeError:
        raise FunctionLoadError(
            f"handle{signature} in {folder / HANDLER_FILE} must accept two "
            "arguments: handle(event, context)"
        ) from None
