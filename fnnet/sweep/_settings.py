"""What identifies a sweep: its settings (name, program fingerprint, seeds, chunk size, grid, key,
results, versions), the digest every chunk names, and the differences a rerun is refused for."""

from __future__ import annotations

import hashlib
import json

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from fnnet._version import __version__
from fnnet.sweep._plan import SweepPlan, plan_of

__all__ = ["FORMAT", "VERSIONS", "differences", "digest", "settings_problem", "sweep_settings"]

FORMAT = 2
# Compared on a rerun but not digested: the chunks of folders written before jaxlib was stored
# name the digest of the settings without both versions.
VERSIONS = ("jax", "jaxlib")


def sweep_settings(
    name: str,
    fingerprint: str | None,
    plan: SweepPlan,
    key,
    results: list,
    compiler_options: dict | None = None,
) -> dict:
    """What identifies a sweep; ``results`` describes its result leaves. ``fingerprint`` is None
    for a sweep without a folder (it is computed only to verify one). ``compiler_options``, the
    caller's (which may change results), are stored where given: a sweep without them has the
    settings it had before they existed."""
    extra = {"compiler_options": dict(compiler_options)} if compiler_options else {}
    return {
        "format": FORMAT,
        "name": name,
        "program": fingerprint,
        "n_seeds": plan.n_seeds,
        "chunk_size": plan.chunk_size,
        "grid": [
            {"name": k, "dtype": str(v.dtype), "values": v.tolist()} for k, v in plan.grid.items()
        ],
        "key": {
            "impl": str(jax.random.key_impl(key)),
            "data": np.asarray(jax.random.key_data(key)).tolist(),
        },
        "results": results,
        **extra,
        "fnnet": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
    }


def digest(settings: dict) -> str:
    """The sweep's identity, which every chunk names: a sha256 digest of its settings but the
    versions (which the settings file holds, and reruns compare)."""
    identity = {k: v for k, v in settings.items() if k not in VERSIONS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _short(value, limit: int = 120) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def differences(stored: dict, given: dict, names=("stored", "given", "the stored sweep")) -> list:
    """One line per setting that differs; an edited ``train_one`` is named as such. ``names``
    says whose the two settings are and what computes the first (a folder's and a run's, or
    ``("process 0 has", "process 1 has", "process 0's train_one")``)."""

    def line(k):
        text = f"{k}: {names[0]} {_short(stored.get(k))}, {names[1]} {_short(given.get(k))}"
        if k != "program":
            return text
        return (
            f"train_one computes something other than {names[2]} (the fingerprint of its "
            f"program differs, {text})"
        )

    if stored.get("format") != given["format"]:
        by = f"fnnet {stored.get('fnnet')}"
        by = f"stored by {by}" if names[0] == "stored" else f"{by} and {given.get('fnnet')}"
        return [f"{line('format')} ({by})"]
    keys = [k for k in dict.fromkeys([*given, *stored]) if k not in VERSIONS]
    # a folder written before jaxlib was stored compares jax alone
    versions = [k for k in VERSIONS if k in stored and stored[k] != given[k]]
    wanted = ", ".join(f"{k}=={stored[k]}" for k in VERSIONS if k in stored)
    return [line(k) for k in keys if stored.get(k) != given.get(k)] + [
        f"{line(k)} (one JAX computes a sweep: XLA may compile its program otherwise and the "
        f"results would mix; to load or finish it, install {wanted})"
        for k in versions
    ]


def settings_problem(s) -> str | None:
    """Why ``s``, parsed from a settings file, is not a sweep's settings; None where it is."""
    if not isinstance(s, dict):
        return f"expected a JSON object, got {type(s).__name__}"
    types = dict(format=int, name=str, n_seeds=int, chunk_size=int, grid=list, results=list)
    for k, t in types.items():
        if not isinstance(s.get(k), t) or isinstance(s.get(k), bool):
            return f"{k}: expected {t.__name__}, got {_short(s.get(k))}"
    if s["n_seeds"] < 1 or s["chunk_size"] < 1:
        return f"expected n_seeds and chunk_size >= 1, got {s['n_seeds']} and {s['chunk_size']}"
    try:
        plan_of(s)
        for r in s["results"]:  # an empty array of each: raises where they describe none
            np.empty((0, *map(int, r["shape"])), jnp.dtype(r["dtype"]))
    except (KeyError, TypeError, ValueError) as e:
        return f"grid or results do not describe arrays ({type(e).__name__}: {e})"
    return None
