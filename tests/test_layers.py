"""The house: each stage folder of facemask/ imports only the stages below it, and no module imports
itself back through another (lazy imports inside functions included)."""

import ast
from pathlib import Path

from facemask import config

PACKAGE = config.ROOT / "facemask"
# what each part may import, besides itself and the shared modules at the top of facemask/
ALLOWED = {
    "shared": set(),
    "vision": set(),
    "cameras": {"vision"},
    "app": {"vision", "cameras"},
    "distributed": {"vision", "cameras"},
    "evaluation": {"vision", "cameras", "distributed"},
    "training": {"vision", "evaluation"},
    "cli": {"vision", "cameras", "app", "distributed", "evaluation", "training", "public"},
    # facemask/__init__.py: the public names (Pipeline, Detections, annotate, ...), from every stage
    "public": {"vision", "cameras", "app", "distributed", "evaluation", "training"},
}
# importing the public names loads the Pipeline: only the stages above vision/ may
for _part_name, _allowed in ALLOWED.items():
    if _part_name not in ("shared", "vision", "public"):
        _allowed.add("public")


def _module_name(path: Path) -> str:
    parts = path.relative_to(config.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """facemask.vision.pipeline -> vision; facemask.config -> shared; facemask.cli -> cli."""
    parts = module.split(".")
    if len(parts) == 1:
        return "public"
    if parts[1] in ALLOWED and parts[1] != "shared":
        return parts[1]
    if (PACKAGE / parts[1]).is_dir():
        raise AssertionError(f"{module}: the folder facemask/{parts[1]} has no row in ALLOWED")
    return "shared"


def _imports(path: Path) -> set[str]:
    """Every facemask module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in ("facemask", "pages")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in ("facemask", "pages"):
                continue
            for alias in node.names:  # `from facemask.vision import pipeline` imports a module
                sub = f"{node.module}.{alias.name}"
                is_module = (config.ROOT / Path(*sub.split("."))).with_suffix(".py").exists() or \
                    (config.ROOT / Path(*sub.split("."))).is_dir()
                found.add(sub if is_module else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_each_stage_imports_only_the_stages_below_it_and_never_the_pages():
    wrong = []
    for module, imported in _graph().items():
        for target in imported:
            if target.split(".")[0] == "pages":
                wrong.append(f"{module} imports {target}")
                continue
            source_part, target_part = _part(module), _part(target)
            if target_part not in ({source_part, "shared"} | ALLOWED[source_part]):
                wrong.append(f"{module} ({source_part}) imports {target} ({target_part})")
    assert not wrong, "imports against the stages' order:\n" + "\n".join(sorted(wrong))


def test_no_module_imports_itself_back_through_others():
    graph = _graph()
    graph = {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}
    cycles, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import circles:\n" + "\n".join(cycles)
