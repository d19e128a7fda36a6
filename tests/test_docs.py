"""The docs site: every Python block of every page runs (a page's blocks in order, sharing one
namespace, as a reader runs them), ``mkdocs build --strict`` passes, and the API reference renders
every public name of every public module (what each ``__all__`` lists)."""

import importlib
import importlib.util
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import time
import types

import pytest

import fnnet

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
# a block the tests do not run says why, visibly, on the line before it
NOT_RUN = re.compile(r"^\*Not run by the tests: (.+)\.\*$")
# modules of fnnet's optional extras: a page's blocks from the first that needs a missing one on
# are skipped, saying which (every extra is installed in CI's first environment)
EXTRAS = {"xarray": "analysis", "pandas": "analysis", "h5netcdf": "analysis", "h5py": "analysis"}
DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:[ ]{4}.*\n?)*)", re.M)


def blocks(page: pathlib.Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, reason)`` of every Python block of ``page``; ``reason`` says why the tests
    do not run it, or is None."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.match(before)
        out.append((line, m.group(1), reason.group(1) if reason else None))
    return out


def _runs(page: pathlib.Path) -> int:
    """How many of ``page``'s blocks the tests run: all but those marked with a reason."""
    return sum(reason is None for _, _, reason in blocks(page))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is missing
        return False


def _missing_extra(code: str) -> str | None:
    """The first module of an extra that ``code`` needs and that is not installed, with the
    extra to install; None where it needs none or they are installed."""
    needs = re.findall(r"^\s*(?:import|from) (\w+)", code, re.M)
    needs += ["xarray"] * (".to_xarray(" in code) + ["pandas"] * (".to_dataframe(" in code)
    needs += ["h5netcdf", "h5py"] * (".to_netcdf(" in code)
    for name in needs:
        if name in EXTRAS and not _installed(name):
            return f"{name} (pip install 'fnnet[{EXTRAS[name]}]')"
    return None


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if blocks(p)],
    ids=lambda p: f"{p.relative_to(DOCS)}: runs {_runs(p)} of {len(blocks(p))} blocks",
)
def test_every_python_block_of_the_page_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # what a block writes lands here
    module = types.ModuleType(f"docs_{page.stem}")  # a page runs as a module would
    monkeypatch.setitem(sys.modules, module.__name__, module)
    ran, not_run = 0, []
    for line, code, reason in blocks(page):
        if reason is not None:
            not_run.append(f"line {line}: {reason}")
            continue
        missing = _missing_extra(code)
        if missing is not None:
            pytest.skip(
                f"{page.name}: ran {ran} blocks; the block at line {line} and those after it "
                f"need {missing}"
            )
        start, cpu = time.perf_counter(), time.process_time()
        try:
            exec(compile(code, f"{page}:{line}", "exec"), module.__dict__)
        except Exception as e:
            raise AssertionError(f"{page.name}, the block at line {line}: {e!r}") from e
        ran += 1
        if os.environ.get("FNNET_DOCS_TIMES"):  # how long each block takes, wall and CPU
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            with capsys.disabled():
                print(f"\n{page.name}:{line}: {wall:.2f} s ({cpu:.2f} s CPU)")
    assert ran + len(not_run) == len(blocks(page)) and ran > 0
    print(f"{page.relative_to(DOCS)}: ran {ran} of {len(blocks(page))} blocks; not run: {not_run}")


def test_a_block_is_left_out_only_with_a_visible_reason():
    reasons = [r for p in PAGES for _, _, r in blocks(p) if r is not None]
    assert all(len(r.split()) >= 3 for r in reasons), reasons
    for page in PAGES:  # a reason stands on its own line right before its block
        text = page.read_text()
        for m in re.finditer(r"Not run by the tests", text):
            after = text[m.start() :].split("\n", 2)
            assert after[1] == "" and after[2].startswith("```python"), f"{page}: {after[0]}"


# --- the API reference ------------------------------------------------------------------------


def public_modules() -> dict[str, types.ModuleType]:
    """fnnet and every module of it whose path has no ``_private`` part."""
    found = {"fnnet": fnnet}
    for info in pkgutil.walk_packages(fnnet.__path__, "fnnet."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found[info.name] = importlib.import_module(info.name)
    return found


def public_names() -> list[tuple[str, str]]:
    """``(module, name)`` for every name of every public module's ``__all__``."""
    return [(m, n) for m, mod in public_modules().items() for n in mod.__all__]


def _directives() -> dict[str, str]:
    """Every ``::: module`` of the docs with the text of its options."""
    found = {}
    for page in PAGES:
        for m in DIRECTIVE.finditer(page.read_text()):
            found[m.group(1)] = m.group(2)
    return found


def _home(module: str, name: str) -> str:
    """Where the reference documents ``module.name``: a module at its own path; an object at the
    module that defines it, where that module is public and exports it; else at ``module``."""
    obj = getattr(public_modules()[module], name)
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    defined = getattr(obj, "__module__", None)
    if defined in public_modules() and name in public_modules()[defined].__all__:
        return f"{defined}.{name}"
    return f"{module}.{name}"


def test_the_api_pages_name_every_public_module_and_name():
    modules, directives = public_modules(), _directives()
    assert all(hasattr(m, "__all__") for m in modules.values())
    assert sorted(directives) == sorted(modules)  # one ::: per public module, no other

    def rendered(module, name):  # by the ::: of module, unless it restricts its members
        options = directives[module]
        return "members:" not in options or name in re.findall(r"^\s+- (\S+)$", options, re.M)

    for module, name in public_names():
        home = _home(module, name)
        if home in modules:  # a module: its own page
            continue
        assert rendered(*home.rsplit(".", 1)), f"{module}.{name}: its ::: directive leaves it out"
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^\s+filters: public\b", config, re.M)  # what __all__ lists, no other
    assert re.search(r"^\s+show_if_no_docstring: true$", config, re.M)  # constants too


def _mkdocs_missing() -> str | None:
    needed = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    return ", ".join(m for m in needed if not _installed(m)) or None


def _build(site: pathlib.Path) -> float:
    """Builds the docs site into ``site`` with ``mkdocs build --strict``; returns the seconds."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return time.perf_counter() - start


# .ci/run builds the site with mkdocs build --strict before the tests and names it here
BUILT = os.environ.get("FNNET_DOCS_SITE")


@pytest.mark.skipif(
    not BUILT and _mkdocs_missing() is not None,
    reason=f"needs the docs extra (pip install 'fnnet[docs]'): missing {_mkdocs_missing()}",
)
def test_mkdocs_build_strict_renders_every_public_name(tmp_path):
    site = pathlib.Path(BUILT) if BUILT else tmp_path / "site"
    how = f"built by .ci/run into {site}" if BUILT else f"built in {_build(site):.1f} s"
    html = "\n".join(p.read_text() for p in site.rglob("*.html"))
    anchors = set(re.findall(r'id="(fnnet[\w.]*)"', html))
    names = public_names()
    # each at its own path (fnnet.layout.Layout), or, where its ::: directive lists the members
    # it renders, where it is documented (fnnet.MLP: fnnet.mlp.MLP)
    restricted = [m for m, options in _directives().items() if "members:" in options]
    missing = [
        f"{m}.{n}"
        for m, n in names
        if f"{m}.{n}" not in anchors and (m not in restricted or _home(m, n) not in anchors)
    ]
    assert missing == [], f"public names the built reference lacks: {missing}"
    print(f"mkdocs build --strict: {how}; {len(names)} public names, all rendered")
