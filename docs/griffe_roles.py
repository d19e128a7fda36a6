"""A Griffe extension for the API reference: fnnet's docstrings name other objects with Sphinx's
roles (:func:`run`, :class:`fnnet.losses.Loss`), which ``help()`` shows as they are. In the
reference each becomes a link where its target is rendered there, and inline code where it is not
(a private helper); reST's ``::`` before an indented block becomes a colon."""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"::\n\n")  # reST's marker of the indented block that follows


def _public(module) -> bool:
    return not any(part.startswith("_") for part in module.path.split("."))


def _shown(package) -> set[str]:
    """The canonical paths of everything the reference renders: every public module, every name
    in its ``__all__``, and the public members of those that are classes."""
    shown, todo = set(), [package]
    while todo:
        module = todo.pop()
        todo += [m for m in module.modules.values() if not m.is_alias and _public(m)]
        shown.add(module.path)
        for name in module.exports or ():
            try:
                target = _target(module[name])
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            shown.add(target.path)
            if target.is_class:
                shown.update(m.path for n, m in target.members.items() if not n.startswith("_"))
    return shown


def _resolve(obj, target: str) -> str | None:
    """``target`` as written in ``obj``'s docstring, resolved to a canonical path (or None)."""
    head, _, rest = target.partition(".")
    try:
        path = target if head == "fnnet" else obj.resolve(head) + (f".{rest}" if rest else "")
        return _target(obj.package[path.removeprefix("fnnet.")]).path
    except (KeyError, griffe.NameResolutionError, griffe.AliasResolutionError):
        return None


def _target(obj):
    return obj.final_target if obj.is_alias else obj


def _objects(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


class Roles(griffe.Extension):
    """Rewrites every docstring's Sphinx roles once the package is loaded."""

    def on_package(self, *, pkg, **kwargs) -> None:
        shown = _shown(pkg)
        for obj in _objects(pkg):
            if obj.docstring is None:
                continue

            def link(match, obj=obj):
                path = _resolve(obj, match.group(1))
                code = f"`{match.group(1)}`"
                return f"[{code}][{path}]" if path in shown else code

            text = _LITERAL.sub(":\n\n", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(link, text)
