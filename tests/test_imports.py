"""The package's import graph (read with ``ast``): no cycles, no upward arrows between layers, no hidden imports.

Layers, lowest first (docs/architecture.md): the root leaves (``version``, ``_io``, ``labels``), ``models``,
``data``, ``inference``, ``apps``, ``train``, ``tools``, ``cli``; the package facade (``tsm_models/__init__``
and ``__main__``) sits on top. A module may import its own layer or lower ones. Imports inside functions are
kept for optional or slow-to-import third-party libraries only, never for the package's own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tsm_models

ROOT = Path(tsm_models.__file__).parent
LAYERS = ("leaf", "models", "data", "inference", "apps", "train", "tools", "cli", "facade")
_LEAVES = {"tsm_models.version", "tsm_models._io", "tsm_models.labels"}
# Third-party modules that may be imported inside a function: optional extras, and libraries whose import is
# slow and only needed on one path (the Hub client, safetensors, tqdm).
LAZY_ALLOWED = {
    "av",
    "cv2",
    "huggingface_hub",
    "matplotlib",
    "onnx",
    "onnxruntime",
    "PIL",
    "safetensors",
    "tensorboard",
    "torch.utils.tensorboard",
    "torchcodec",
    "tqdm",
}


def _module_name(path: Path) -> str:
    parts = ["tsm_models", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int:
    if module in ("tsm_models", "tsm_models.__main__"):
        return LAYERS.index("facade")
    if module in _LEAVES:
        return 0
    sub = module.split(".")[1]
    return LAYERS.index(sub)


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The package modules an ``ImportFrom`` loads (the module itself, or submodules imported by name)."""
    if node.level:
        base = module.split(".")
        is_package = MODULES[module].name == "__init__.py"
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if not target.startswith("tsm_models"):
        return []
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    return subs or [target]


def _imports(module: str) -> list[tuple[str, int, str]]:
    """``(imported module, line, kind)`` with kind ``"top"``, ``"type_checking"`` or ``"function"``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                child_kind = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_kind = "type_checking" if kind == "top" else kind
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, child_kind) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                targets = _resolve(module, child) or [child.module or ""]
                out.extend((t, child.lineno, child_kind) for t in targets)
            visit(child, child_kind)

    visit(tree, "top")
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def test_the_graph_sees_the_whole_package() -> None:
    assert len(MODULES) > 40 and "tsm_models.models.tsm_resnet" in MODULES
    assert ("tsm_models.models._builder", "top") in {(t, k) for t, _, k in GRAPH["tsm_models.models.tsm_resnet"]}


def test_no_import_cycles() -> None:
    edges = {m: sorted({t for t, _, k in GRAPH[m] if k == "top" and t in MODULES and t != m}) for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t) :], t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downward(module: str) -> None:
    upward = [
        f"line {line}: {target} ({LAYERS[layer(target)]})"
        for target, line, _ in GRAPH[module]
        if target in MODULES and layer(target) > layer(module)
    ]
    assert not upward, f"{module} ({LAYERS[layer(module)]}) imports a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_hidden_imports_in_functions(module: str) -> None:
    hidden = [
        f"line {line}: {target}"
        for target, line, kind in GRAPH[module]
        if kind == "function" and (target.startswith("tsm_models") or not _lazy_ok(target))
    ]
    assert not hidden, f"{module} imports inside functions (move them to the top): {hidden}"


def _lazy_ok(target: str) -> bool:
    return any(target == name or target.startswith(name + ".") for name in LAZY_ALLOWED)


def test_importing_the_package_leaves_training_and_tools_unloaded() -> None:
    import subprocess
    import sys

    code = "import sys, tsm_models; print(sorted(m for m in sys.modules if m.startswith('tsm_models.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "tsm_models.models" in loaded and "tsm_models.data" in loaded
    assert "tsm_models.train" not in loaded and "tsm_models.tools" not in loaded and "tsm_models.cli" not in loaded


def test_a_detected_cycle_and_upward_arrow_would_fail() -> None:
    # the checks above are only as good as the graph: an arrow models -> train must be seen as upward
    assert layer("tsm_models.train.loop") > layer("tsm_models.models.tsm")
    assert layer("tsm_models.labels") < layer("tsm_models.models._hub") < layer("tsm_models.data.video")
    assert not _lazy_ok("tsm_models.models") and _lazy_ok("av") and not _lazy_ok("timm")
