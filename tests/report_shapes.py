"""The shape of a JSON answer: its keys and the types of its values, for comparing contracts.

A list's shape merges its rows' shapes; null matches any type (a demo that runs to another day
may leave a different field empty), so what is compared is which keys there are and what
kind of value each holds when it holds one.
"""

from __future__ import annotations

NULL = "null"


def shape(value):
    if isinstance(value, dict):
        return {"{}": {str(k): shape(v) for k, v in value.items()}}
    if isinstance(value, list):
        merged = NULL
        for item in value:
            merged = merge(merged, shape(item))
        return {"[]": merged}
    if value is None:
        return NULL
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[type(value)]


def merge(a, b):
    if a == NULL:
        return b
    if b == NULL or a == b:
        return a
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        (kind,) = a
        if kind == "[]":
            return {"[]": merge(a["[]"], b["[]"])}
        keys = list(dict.fromkeys([*a["{}"], *b["{}"]]))
        return {"{}": {k: merge(a["{}"].get(k, NULL), b["{}"].get(k, NULL)) for k in keys}}
    if isinstance(a, str) and isinstance(b, str):
        kinds = set(a.split("|")) | set(b.split("|"))
        if kinds == {"integer", "number"}:
            return "number"  # a float column whose values happen to be whole
        return "|".join(sorted(kinds))
    return "mixed"


def differences(before, after, where="$") -> list[str]:
    """Where `after` departs from `before`: a key gone or added, a value of another kind."""
    if before == NULL or after == NULL or before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict) and before.keys() == after.keys():
        (kind,) = before
        if kind == "[]":
            return differences(before["[]"], after["[]"], where + "[]")
        found = [f"{where}.{k}: gone" for k in before["{}"] if k not in after["{}"]]
        found += [f"{where}.{k}: new" for k in after["{}"] if k not in before["{}"]]
        for k in before["{}"]:
            if k in after["{}"]:
                found += differences(before["{}"][k], after["{}"][k], f"{where}.{k}")
        return found
    if isinstance(before, str) and isinstance(after, str) and _kinds(after) <= _kinds(before):
        return []  # fewer kinds seen this time (all whole numbers, say) is not another shape
    return [f"{where}: was {before}, now {after}"]


def _kinds(kind: str) -> set[str]:
    kinds = set(kind.split("|"))
    return kinds | {"integer"} if "number" in kinds else kinds
