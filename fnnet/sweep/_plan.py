"""The plan of a sweep: its units (a grid point and a chunk of seeds), the seeds and
hyperparameters each covers, and the share of them that each process computes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from fnnet import _checks

__all__ = ["SweepPlan", "plan_of", "plan_run"]


class SweepPlan(NamedTuple):
    """Which seeds and hyperparameters each unit of a sweep covers.

    Unit ``(g, c)`` trains seeds ``span(c) = (lo, hi)`` of chunk c at grid point g (a tuple of
    indices into the grid, flat index ``point(g)`` in C order); its program runs ``seeds(c)``,
    ``chunk_size`` seed indices from ``lo``, the last chunk padded past ``n_seeds``.
    """

    grid: dict
    n_seeds: int
    chunk_size: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.grid.values())

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_seeds / self.chunk_size)

    def units(self) -> list[tuple[tuple[int, ...], int]]:
        grid_points = itertools.product(*map(range, self.shape))
        return [(g, c) for g in grid_points for c in range(self.n_chunks)]

    def point(self, g) -> int:
        return int(np.ravel_multi_index(g, self.shape)) if g else 0

    def span(self, c: int) -> tuple[int, int]:
        return c * self.chunk_size, min((c + 1) * self.chunk_size, self.n_seeds)

    def seeds(self, c: int) -> np.ndarray:
        return np.arange(c * self.chunk_size, (c + 1) * self.chunk_size, dtype=np.uint32)

    def hparams(self, g) -> dict:
        return {name: np.asarray(v[i]) for (name, v), i in zip(self.grid.items(), g)}

    def rows(self, units) -> int:
        """The number of seeds that ``units`` cover together."""
        return sum(hi - lo for lo, hi in (self.span(c) for _, c in units))

    def share(self, process: int, n_processes: int) -> tuple[list, list]:
        """This process's units (unit number u goes to process u % n_processes) and the others."""
        units = self.units()
        mine = [u for n, u in enumerate(units) if n % n_processes == process]
        return mine, [u for n, u in enumerate(units) if n % n_processes != process]


def plan_run(
    grid: dict, n_seeds: int, chunk_size, stored: dict | None, n_devices: int, default: Callable
) -> SweepPlan:
    """The plan of a run: ``chunk_size`` as given, else the one stored in ``out``, else
    ``default()``; either way a multiple of the local device count."""
    if chunk_size is None:
        reuse = stored is not None and stored["chunk_size"] % n_devices == 0
        chunk_size = stored["chunk_size"] if reuse else default()
    else:
        chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
        if chunk_size % n_devices:
            raise ValueError(
                f"chunk_size: expected a multiple of the {n_devices} local devices (each gets "
                f"the same number of seeds), got {chunk_size}"
            )
    return SweepPlan(grid, n_seeds, chunk_size)


def plan_of(settings: dict) -> SweepPlan:
    """The plan that a folder's settings describe."""
    grid = {g["name"]: np.asarray(g["values"], g["dtype"]) for g in settings["grid"]}
    return SweepPlan(grid, settings["n_seeds"], settings["chunk_size"])
