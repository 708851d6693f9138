"""The keys an import has met earlier in its file, in 16 bytes a key instead of the key itself.

An import refuses a second row with the same id or email as an earlier row, naming that row.
Keeping every key string of a million-row file cost about 300 MiB; here each key is its
64-bit hash and the record that first held it, in sorted numpy arrays. Two different keys share
a hash with odds of about one in 10^7 for a file of a million keys; the import would then
call the second a duplicate of the first (an error a person can see, never a silent merge).

Batches add sorted runs; runs of similar size are merged, as a binary counter carries, so a
file of n keys is searched in O(log n) runs and each key is merged O(log n) times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NONE = -1


class SeenKeys:
    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, first record of each)

    def first_records(self, values: Sequence, records: Sequence[int]) -> list[int]:
        """For each value, the record that held it first (itself when new, NONE for a blank), and remember them."""
        present = [i for i, value in enumerate(values) if value is not None]
        first = np.full(len(values), NONE, np.int64)
        if not present:
            return first.tolist()
        hashes = np.array([hash(values[i]) for i in present], np.int64)
        held = np.array([records[i] for i in present], np.int64)
        earlier = self._earlier(hashes)
        order = np.argsort(hashes, kind="stable")  # equal hashes keep file order: the first is the holder
        ranked = hashes[order]
        starts = np.r_[True, ranked[1:] != ranked[:-1]]
        run_start = np.maximum.accumulate(np.where(starts, np.arange(ranked.size), 0))
        holder = held[order][run_start]
        known = earlier[order][run_start]
        first_sorted = np.where(known != NONE, known, holder)
        result = np.empty_like(first_sorted)
        result[order] = first_sorted
        first[present] = result
        new = starts & (known == NONE)
        self._add(ranked[new], holder[new])
        return first.tolist()

    def _earlier(self, hashes: np.ndarray) -> np.ndarray:
        found = np.full(hashes.size, NONE, np.int64)
        for run_hashes, run_records in self._runs:
            at = np.searchsorted(run_hashes, hashes)
            inside = at < run_hashes.size
            hit = np.zeros(hashes.size, bool)
            hit[inside] = run_hashes[at[inside]] == hashes[inside]
            found[hit] = run_records[at[hit]]
        return found

    def _add(self, hashes: np.ndarray, records: np.ndarray) -> None:
        if not hashes.size:
            return
        self._runs.append((hashes, records))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            (a_hashes, a_records), (b_hashes, b_records) = self._runs.pop(-2), self._runs.pop()
            merged = np.concatenate([a_hashes, b_hashes])
            order = np.argsort(merged, kind="stable")
            self._runs.append((merged[order], np.concatenate([a_records, b_records])[order]))
