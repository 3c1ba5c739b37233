"""The count tables a distance's pairs end up in, and the statistics read off them (chapter 02).

A table is the (code, count) list of the distinct pairs of one distance, with the counts of each left and right
member: in memory (:class:`PairTable`, sorted numpy arrays) or, past the memory budget, in DuckDB
(:class:`SpilledPairTable`, out of core under a memory limit; :class:`SpilledGroupCounts`, the per-group counts
a document bootstrap reweights). Either gives the same count histogram (Grassberger's estimator needs only that,
:mod:`l2m.entropy`), the same marginals and the first-order standard error (:func:`mi_stderr`; the spilled one
as two SQL sums, equal up to summation order). :mod:`l2m.paircount` does the counting that fills them.

DuckDB's spill folders live under ``<cache>/scratch/``, named by host and process, so the folders a killed run
left behind are removed when the next one opens (:func:`remove_stale_spills`).
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import cache


def marginals(codes: np.ndarray, counts: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each left and each right member, from a (codes, counts) table sorted by code."""
    # codes are sorted, so the left member's pairs are one run each: cumulative counts at the run edges
    edges = np.searchsorted(codes, np.arange(vocab_size + 1, dtype=np.uint64) * np.uint64(vocab_size))
    left = np.diff(np.concatenate(([0], np.cumsum(counts))).astype(np.int64)[edges])
    right = np.bincount(codes % codes.dtype.type(vocab_size), weights=counts, minlength=vocab_size)
    return left, right.astype(np.int64)  # float sums of integers < 2⁵³: exact


def mi_stderr(codes: np.ndarray, counts: np.ndarray, left_counts: np.ndarray, right_counts: np.ndarray) -> float:
    """First-order standard error of a two-point MI: sqrt(Var[i(x, y)] / N), i the pointwise MI.

    i(x, y) = ln(n_xy N / (n_x n_y)) over the pairs seen. Adding the three entropies' errors in
    quadrature would overstate it many times, since the three move together. For independent
    members it is ~0 and the estimator's own fluctuation dominates: the shuffle baselines measure that.
    """
    vocab_size = len(left_counts)
    codes = np.asarray(codes)
    n_total = float(counts.sum())
    with np.errstate(divide="ignore"):  # members never seen: ln 0, never gathered
        log_left, log_right = np.log(left_counts), np.log(right_counts)  # (V,): a gather, not a log per pair
    v = codes.dtype.type(vocab_size)
    pointwise = np.log(counts)  # in place from here: one (D,) buffer, the same operations in the same order
    pointwise += np.log(n_total)
    pointwise -= log_left[codes // v]
    pointwise -= log_right[codes % v]
    weights = counts / n_total
    mean = float(weights @ pointwise)
    pointwise *= pointwise
    return math.sqrt(max(float(weights @ pointwise) - mean**2, 0.0) / n_total)


@dataclass(frozen=True)
class PairTable:
    """The pair counts of one distance, held in memory: sorted distinct codes and their counts."""

    codes: np.ndarray
    counts: np.ndarray
    left: np.ndarray  # (V,) counts of each left member
    right: np.ndarray  # (V,) counts of each right member

    @property
    def n_pairs(self) -> int:
        return int(self.left.sum())

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        multiplicities = np.bincount(self.counts)  # every count ≥ 1: entropy.count_histogram without its filter
        values = np.flatnonzero(multiplicities)
        return values, multiplicities[values]

    def stderr(self) -> float:
        return mi_stderr(self.codes, self.counts, self.left, self.right)

    def close(self) -> None:
        """Nothing to release (the spilled table's ``close`` drops its database): callers close either kind."""


def spill_prefix(pid: int | None = None) -> str:
    """The name every DuckDB folder of process ``pid`` (default this one) on this host starts with."""
    return f"{_host_prefix()}{os.getpid() if pid is None else pid}-"


def _host_prefix() -> str:
    return f"l2m-pairs-{socket.gethostname()}-"


def remove_stale_spills(folder: Path) -> list[Path]:
    """Remove the DuckDB folders that processes of this host left behind when killed; returns them.

    A database of a paper-scale distance is tens of GB, and a killed run never reaches ``close()``.
    Only folders of this host whose process is gone are removed (a cache shared by several machines
    keeps the others' folders).
    """
    removed = []
    host = _host_prefix()
    for path in folder.glob(f"{host}*"):
        pid = path.name[len(host):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except PermissionError:  # alive, another user's
            pass
    return removed


@contextlib.contextmanager
def arrays_as_view(con: Any, **views: dict[str, np.ndarray]) -> Iterator[None]:
    """Each ``name={column: array}`` readable by SQL on ``con`` as the view ``name`` for the block's duration.

    Queries in the block must be fetched to their end: DuckDB will not drop a view under an open result.
    """
    import pyarrow as pa

    for name, columns in views.items():
        con.register(name, pa.table(columns))
    try:
        yield
    finally:
        for name in views:
            con.unregister(name)


def open_duckdb(memory_budget: int, spill_dir: Path | None) -> tuple[Any, tempfile.TemporaryDirectory]:
    """A DuckDB database in a new temporary folder (under ``spill_dir``, default ``<cache>/scratch``), limited to
    half the budget in memory; it spills its own hash tables to that folder past it. Folders left by killed
    processes are removed first (:func:`remove_stale_spills`)."""
    import duckdb

    parent = Path(spill_dir or cache.scratch_dir())
    remove_stale_spills(parent)
    folder = tempfile.TemporaryDirectory(prefix=spill_prefix(), dir=parent)
    con = duckdb.connect(str(Path(folder.name) / "pairs.duckdb"), config={
        "memory_limit": f"{max(memory_budget // 2**20 // 2, 64)}MB", "temp_directory": folder.name,
        "preserve_insertion_order": False})
    return con, folder


class SpilledPairTable:
    """The pair counts of one distance in a DuckDB database on disk; aggregates come back, never the pairs.

    Made by :meth:`create` (blocks appended, merged by one GROUP BY when first read; owns its database)
    or by :meth:`SpilledGroupCounts.table` (a replicate's merged table ``name`` in the group counts'
    database, its own name, dropped on ``close()``).
    """

    def __init__(self, con: Any, vocab_size: int, folder: tempfile.TemporaryDirectory | None = None,
                 merged: bool = False, name: str = "pairs"):
        self.con, self.vocab_size, self._folder, self._merged, self.name = con, vocab_size, folder, merged, name
        self.left = np.zeros(vocab_size, np.int64)
        self.right = np.zeros(vocab_size, np.int64)
        if merged:  # the marginals of the merged table as two SQL aggregates (V rows each)
            for side, member in ((self.left, f"code // {vocab_size}"), (self.right, f"code % {vocab_size}")):
                rows = con.execute(f"SELECT ({member})::BIGINT AS t, sum(n)::BIGINT AS n FROM {name} GROUP BY t"
                                   ).fetchnumpy()
                side[np.asarray(rows["t"], np.int64)] = np.asarray(rows["n"], np.int64)

    @classmethod
    def create(cls, vocab_size: int, memory_budget: int, spill_dir: Path | None) -> "SpilledPairTable":
        con, folder = open_duckdb(memory_budget, spill_dir)
        con.execute("CREATE TABLE blocks (code UBIGINT, n BIGINT)")
        return cls(con, vocab_size, folder)

    def append(self, codes: np.ndarray, counts: np.ndarray) -> None:
        left, right = marginals(codes, counts, self.vocab_size)
        self.left += left
        self.right += right
        with arrays_as_view(self.con, block={"code": codes.astype(np.uint64), "n": counts.astype(np.int64)}):
            self.con.execute("INSERT INTO blocks SELECT code, n FROM block")

    @property
    def n_pairs(self) -> int:
        return int(self.left.sum())

    def _merge(self) -> None:
        if not self._merged:  # one out-of-core GROUP BY; the blocks are dropped after it
            self.con.execute(f"CREATE TEMP TABLE {self.name} AS SELECT code, sum(n)::BIGINT AS n FROM blocks GROUP BY code")
            self.con.execute("DROP TABLE blocks")
            self._merged = True

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        self._merge()
        rows = self.con.execute(f"SELECT n, count(*) AS m FROM {self.name} GROUP BY n ORDER BY n").fetchnumpy()
        return np.asarray(rows["n"], np.int64), np.asarray(rows["m"], np.int64)

    def batches(self, rows: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The merged (codes, counts), ``rows`` at a time (unsorted): a spilled table moved elsewhere in bounded memory."""
        self._merge()
        reader = self.con.sql(f"SELECT code, n FROM {self.name}").to_arrow_reader(rows)
        for batch in reader:
            yield batch.column(0).to_numpy(), batch.column(1).to_numpy()

    def stderr(self) -> float:
        """:func:`mi_stderr` as two SQL sums: Var[i] = S2/N − (S1/N)², i − ln N = ln n − ln n_x − ln n_y."""
        self._merge()
        log_counts = {}  # ln n_x and ln n_y of the members seen
        for name, side in (("lx", self.left), ("ry", self.right)):
            seen = np.flatnonzero(side)
            log_counts[name] = {"t": seen, "l": np.log(side[seen])}
        v = self.vocab_size
        with arrays_as_view(self.con, **log_counts):
            s1, s2 = self.con.execute(
                f"SELECT sum(n * q), sum(n * q * q) FROM (SELECT n, ln(n) - lx.l - ry.l AS q FROM {self.name} "
                f"JOIN lx ON lx.t = (code // {v})::BIGINT JOIN ry ON ry.t = (code % {v})::BIGINT)").fetchall()[0]
        n_total = float(self.n_pairs)
        return math.sqrt(max(s2 / n_total - (s1 / n_total) ** 2, 0.0) / n_total)

    def close(self) -> None:
        if self._folder is None:  # a replicate in a group counts' database: only its table goes
            self.con.execute(f"DROP TABLE IF EXISTS {self.name}")
            return
        self.con.close()
        self._folder.cleanup()


class SpilledGroupCounts:
    """:class:`GroupCounts` in a DuckDB table (g, code, n) on disk, for when the entries outgrow the budget.

    A replicate is one weighted GROUP BY over the entries (``sum(n · m_g)`` by code, out of core), its
    table left in the database (:class:`SpilledPairTable`, closed after use).
    """

    def __init__(self, vocab_size: int, n_groups: int, memory_budget: int, spill_dir: Path | None):
        self.vocab_size, self.n_groups = vocab_size, n_groups
        self.con, self._folder = open_duckdb(memory_budget, spill_dir)
        self.con.execute("CREATE TABLE entries (g UINTEGER, code UBIGINT, n BIGINT)")
        self._replicates = 0

    def append(self, group: int, codes: np.ndarray, counts: np.ndarray) -> None:
        with arrays_as_view(self.con, block={"code": codes.astype(np.uint64), "n": counts.astype(np.int64)}):
            self.con.execute(f"INSERT INTO entries SELECT {int(group)}, code, n FROM block")

    def table(self, weights: np.ndarray | None = None) -> SpilledPairTable:
        """The counts of a corpus holding group g ``weights[g]`` times, in a table of its own (close it after use)."""
        weights = np.ones(self.n_groups, np.int64) if weights is None else np.asarray(weights, np.int64)
        drawn = np.flatnonzero(weights)
        self._replicates += 1
        name = f"replicate_{self._replicates}"  # each open replicate its own table: none overwrites another
        with arrays_as_view(self.con, w={"g": drawn.astype(np.uint32), "m": weights[drawn].astype(np.int64)}):
            self.con.execute(f"CREATE TEMP TABLE {name} AS "  # temporary: 1.3x faster than a stored table, spills alike
                             "SELECT code, sum(n * m)::BIGINT AS n FROM entries JOIN w USING (g) GROUP BY code")
        return SpilledPairTable(self.con, self.vocab_size, merged=True, name=name)

    def close(self) -> None:
        self.con.close()
        self._folder.cleanup()
