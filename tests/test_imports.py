"""fnnet's modules talk through public names only: its import graph, counting imports inside
functions, has no cycle, and no module takes another module's ``_private`` name."""

import ast
import pathlib

import fnnet

ROOT = pathlib.Path(fnnet.__file__).parent


def _modules():
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("fnnet", *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _private(name):
    return name.startswith("_") and not name.endswith("__")


def _imports(module, path, modules):
    """``(imported modules, private names taken)`` of ``module``, at any depth."""
    tree, alias, deps, taken = ast.parse(path.read_text()), {}, set(), []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "fnnet":
                    deps.add(a.name)
                    alias[a.asname or "fnnet"] = a.name if a.asname else "fnnet"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != "fnnet":
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                deps.add(full if full in modules else base)
                alias[a.asname or a.name] = full if full in modules else None
                if full not in modules and _private(a.name) and base != module:
                    taken.append(f"{module}: from {base} import {a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = alias.get(node.value.id)
            if target and target != module and _private(node.attr):
                if f"{target}.{node.attr}" not in modules:
                    taken.append(f"{module}: {target}.{node.attr}")
    return deps - {module}, taken


def test_no_cycles_and_no_private_names_across_modules():
    modules = _modules()
    graph, taken = {}, []
    for module, path in modules.items():
        graph[module], t = _imports(module, path, modules)
        taken += t
    assert taken == []
    # the package's __init__ imports its modules: a module importing it (or a module inside
    # a function) would close a cycle; follow every edge from every module
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for dep in graph.get(todo.pop(), ()):
                assert dep != start, f"an import cycle through {start} and {dep}"
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
