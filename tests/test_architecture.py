"""The package's rooms: lower rooms never import higher ones, no import cycle anywhere
(imports deferred into functions included), few modules at the top level, and only the
command line prints. Read from the source with ``ast``, so a deferred import counts as much
as one at the top of a module."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "streamcolor"

# Lowest first. A module may import its own room, or any room on an earlier line.
LAYERS = [
    {"errors", "config", "contract", "redact", "weights"},  # the shared vocabulary
    {"color"},  # colour math, the stabilizer
    {"zoo"},  # models: registry, fetch, import
    {"runtime"},  # the one door to onnxruntime
    {"media"},  # decode, frames, encode, mux, photos
    {"live"},  # live sources, their sound, drops, metrics, streaming outputs
    {"pipeline"},  # the stages as threads
    {"jobs"},  # film jobs
    {"api", "arrays", "images", "testing"},  # the Python API over all of it
    {"diagnostics", "__init__"},  # bench, quality, doctor; the public face
    {"web"},  # `streamcolor serve`: the HTTP app over the Python API
    {"cli", "__main__"},  # the command line: nothing imports it
]
MAX_TOP_LEVEL = 15


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: pathlib.Path, modules: dict) -> set[str]:
    """Every streamcolor module that ``name`` imports, anywhere in its body."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package[:len(package) - node.level + 1]
                base = ".".join(stem + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    room = _room(module)
    for level, rooms in enumerate(LAYERS):
        if room in rooms:
            return level
    raise AssertionError(f"{module} is in no room of LAYERS; add its room there")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_deferred_imports():
    """The reader itself: an import inside a function is an edge like any other."""
    graph = _graph()
    assert "streamcolor.cli.eval" in graph["streamcolor.cli.main"]  # imported in _dispatch
    assert "streamcolor.jobs.ray_backend" in graph["streamcolor.jobs.job"]  # in _scheduler


def test_no_import_cycle_anywhere():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lower_rooms_never_import_higher_ones():
    wrong = [f"{module} imports {target}"
             for module, targets in sorted(_graph().items()) for target in sorted(targets)
             if _layer(target) > _layer(module)]
    assert wrong == []


def test_nothing_imports_the_command_line():
    wrong = [module for module, targets in _graph().items()
             if _room(module) not in ("cli", "__main__")
             and any(_room(t) == "cli" for t in targets)]
    assert wrong == []


def test_few_modules_at_the_top_level():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top


@pytest.mark.parametrize("room", ["color", "media", "runtime", "live", "jobs", "zoo",
                                  "diagnostics", "cli"])
def test_each_room_says_what_it_holds(room):
    init = PACKAGE / room / "__init__.py"
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_only_the_command_line_prints():
    printing = []
    for name, path in _modules().items():
        if _room(name) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{name}:{node.lineno}")
    assert printing == []


def test_public_api_is_whole():
    import streamcolor

    missing = [name for name in streamcolor.__all__ if not hasattr(streamcolor, name)]
    assert missing == []
    for name in ("colorize_file", "colorize", "colorize_image", "colorize_images", "Colorizer",
                 "ModelConfig", "EncodeConfig", "Pipeline", "FileSource", "FileSink",
                 "LiveSource", "ModelRunner", "StreamcolorError"):
        assert name in streamcolor.__all__
