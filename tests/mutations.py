"""Random damage to source files for the property tests: byte edits, and edits of the structure a file
holds (JSON values, JSON lines, CSV cells, Parquet columns).

A mutation is plain data, so a failing one can be written down as an ``@example``:

- ``("flip", pick, at, mask)``: XOR one byte; ``("truncate", pick, at)``: cut the file there;
  ``("insert", pick, at, payload)``: insert bytes; ``("delete", pick, at, length)``: remove bytes;
- ``("value", pick, at, action, value)``: in the file's structure (a JSON file, one JSON line, a CSV
  cell, a Parquet column), the node number ``at`` gets ``action`` (:data:`ACTIONS`) with ``value``.

``pick`` chooses the file (modulo the number of files), ``at`` the place (modulo the size).
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: Texts that have broken parsers before, or that mean something to an adapter.
SPECIAL_TEXTS = [
    "", " ", "\x00", "\x00" * 8, "\ufeff", "\u2028", "\r\n", "\\", '"', "'", "😀", "\ud800",
    "Answer Choices: (A) a (B) b", "Answer Choices: " + " ".join(f"({c}) x" for c in "ABCDEFGHIJKL"),
    "(A)" * 60, "<image 1>", "<image 99>", "<image 1> <image 2>", "CLOSED", "OPEN", "closed ", "yes",
    "no", "A", "Z", "(B).", '["A", "B"]', "['a', 'b']", "['only']", "__import__('os')", "[" * 2000,
    "1e999", "NaN", "-1", "10", "../../../outside.jpg", "imgs/../../x.jpg", "/etc/hostname", "a" * 300,
    "x/" * 200, "zh", "en", "MM", "Text", "maybe", "A:Yes", "B:", ":", "E:five",
]  # fmt: skip
#: Bytes that are not valid UTF-8 or that split lines and records.
SPECIAL_BYTES = [
    b"\x00", b"\xff", b"\xfe\xff", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xef\xbb\xbf",
    b"\n", b"\r", b"\r\n", b"\n\n", b'"', b",", b"{", b"}", b"[", b"]", b"\\", b"\x1c", b"\xc2\x85",
    b"\xe2\x80\xa8", b"[" * 5000, b"{\"a\":" * 3000,
]  # fmt: skip
#: What a structure mutation does to the node it picks.
ACTIONS = ("replace", "drop", "nest", "deep", "huge", "empty-list", "empty-dict", "retype", "duplicate")

HUGE = 200_000

texts = st.one_of(st.sampled_from(SPECIAL_TEXTS), st.text(max_size=40))
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=True, allow_infinity=True), texts,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=8,
)  # fmt: skip
places = st.integers(min_value=0, max_value=10**6)
payloads = st.one_of(st.sampled_from(SPECIAL_BYTES), st.binary(min_size=1, max_size=16))
byte_mutations = st.one_of(
    st.tuples(st.just("flip"), places, places, st.integers(1, 255)),
    st.tuples(st.just("truncate"), places, places),
    st.tuples(st.just("insert"), places, places, payloads),
    st.tuples(st.just("delete"), places, places, st.integers(1, 64)),
)  # fmt: skip
value_mutations = st.tuples(st.just("value"), places, places, st.sampled_from(ACTIONS), json_values)
mutations = st.lists(st.one_of(byte_mutations, value_mutations), min_size=1, max_size=3)


def apply(files: list[Path], mutation: tuple) -> None:
    """Apply one mutation to one of ``files`` in place."""
    kind, pick = mutation[0], mutation[1]
    path = files[pick % len(files)]
    data = path.read_bytes()
    if kind != "value":
        path.write_bytes(edit_bytes(data, mutation))
        return
    _, _, at, action, value = mutation
    if path.suffix == ".parquet":
        _edit_parquet(path, at, action, value)
    elif path.suffix in (".json", ".jsonl", ".csv"):
        path.write_bytes(_edit_text_file(path.suffix, data, at, action, value))
    else:  # an image: the value's text as bytes inside it
        path.write_bytes(edit_bytes(data, ("insert", 0, at, _encode(str(value))[:64] or b"\x00")))


def edit_bytes(data: bytes, mutation: tuple) -> bytes:
    kind, _, at = mutation[:3]
    at = at % (len(data) + 1)
    if kind == "flip" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ mutation[3]]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "insert":
        return data[:at] + mutation[3] + data[at:]
    if kind == "delete":
        return data[:at] + data[at + mutation[3] :]
    return data


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# structure ------------------------------------------------------------------------------------------


def _nodes(value: Any, trail: tuple = ()) -> list[tuple]:
    """Paths to every node of a JSON value, depth first (the root first)."""
    found = [trail]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*trail, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _nodes(child, (*trail, index))
    return found


def _retyped(old: Any) -> Any:
    if isinstance(old, str):
        return len(old)
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        return str(old)
    if isinstance(old, (list, dict)):
        return _dumps(old)
    return [old]


def _new_value(old: Any, action: str, value: Any) -> Any:
    return {
        "replace": lambda: value,
        "nest": lambda: [old] if isinstance(value, list) else {"value": old},
        "deep": lambda: json.loads("[" * 400 + _dumps(old) + "]" * 400),
        "huge": lambda: (str(value) or "x") * (HUGE // max(1, len(str(value) or "x"))),
        "empty-list": lambda: [],
        "empty-dict": lambda: {},
        "retype": lambda: _retyped(old),
    }[action]()


def edit_json(root: Any, at: int, action: str, value: Any) -> Any:
    """``root`` with node number ``at`` changed by ``action``."""
    nodes = _nodes(root)
    trail = nodes[at % len(nodes)]
    if not trail:
        return root if action in ("drop", "duplicate") else _new_value(root, action, value)
    parent = root
    for key in trail[:-1]:
        parent = parent[key]
    last = trail[-1]
    if action == "drop":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, json.loads(_dumps(parent[last])))
    elif action == "duplicate":
        parent[f"{last}_copy"] = parent[last]
    else:
        parent[last] = _new_value(parent[last], action, value)
    return root


def _edit_text_file(suffix: str, data: bytes, at: int, action: str, value: Any) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    if suffix == ".csv":
        return _edit_csv(text, at, action, value)
    if suffix == ".json":
        try:
            return _encode(_dumps(edit_json(json.loads(text), at, action, value)))
        except (ValueError, RecursionError):  # already broken by an earlier mutation: edit the text
            return edit_bytes(data, ("insert", 0, at, _encode(_dumps(value))))
    lines = data.split(b"\n")  # JSON Lines end at \n
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return data + _encode(_dumps(value))
    index = filled[at % len(filled)]
    try:
        row = json.loads(lines[index].decode("utf-8", errors="surrogateescape"))
    except (ValueError, RecursionError):  # a line broken by an earlier mutation: a new row
        row = copy.deepcopy(value)
    lines[index] = _encode(_dumps(edit_json(row, at // len(filled), action, value)))
    return b"\n".join(lines)


def _cell_text(action: str, value: Any) -> str:
    text = value if isinstance(value, str) else _dumps(value)
    return text * (HUGE // max(1, len(text))) if action == "huge" else text


def _edit_csv(text: str, at: int, action: str, value: Any) -> bytes:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return _encode(text + _cell_text(action, value))
    if not rows:
        return _encode(_cell_text(action, value))
    row = rows[at % len(rows)]
    column = (at // len(rows)) % (len(row) + 1)
    if action == "drop" and row:
        del row[min(column, len(row) - 1)]
    elif action == "duplicate":
        rows.insert(at % len(rows), list(row))
    elif action in ("empty-list", "empty-dict"):
        rows[at % len(rows)] = []
    elif column == len(row):
        row.append(_cell_text(action, value))
    else:
        row[column] = _cell_text(action, value)
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


def _edit_parquet(path: Path, at: int, action: str, value: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception:  # already broken by an earlier mutation
        return
    if not table.num_columns:
        return
    column = at % table.num_columns
    name, kind = table.schema.names[column], table.schema.types[column]
    rows = table.to_pylist()
    if action == "drop":
        table = table.remove_column(column)
    elif action == "retype":
        if pa.types.is_string(kind):
            values = [len(r[name] or "") for r in rows]
        else:
            values = [None if r[name] is None else str(r[name]) for r in rows]
        table = table.set_column(column, name, pa.array(values))
    elif rows:
        row = rows[(at // table.num_columns) % len(rows)]
        if pa.types.is_string(kind):
            row[name] = _arrow_text(_cell_text(action, value))
        elif pa.types.is_struct(kind):
            row[name] = {"bytes": _encode(_cell_text(action, value)), "path": None}
        else:
            row[name] = None
        table = pa.Table.from_pylist(rows, schema=table.schema)
    pq.write_table(table, path)


# one named field ------------------------------------------------------------------------------------

#: ``("field", pick, at, key, value)``: the field ``key`` (one of a layout's field names, modulo their
#: number) of the row number ``at`` gets ``value``; texts for CSV and Parquet cells.
field_mutations = st.tuples(st.just("field"), places, places, places, st.one_of(texts, json_values))


def apply_field(files: list[Path], keys: list[str], mutation: tuple) -> None:
    """Apply a field mutation to the first of ``files`` (modulo) that has rows."""
    _, pick, at, key_pick, value = mutation
    path = files[pick % len(files)]
    key = keys[key_pick % len(keys)]
    if path.suffix == ".parquet":
        _field_parquet(path, at, key, value)
        return
    text = path.read_bytes().decode("utf-8", errors="surrogatepass")  # lone surrogates written before
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
        if key in rows[0] and len(rows) > 1:
            row = rows[1 + at % (len(rows) - 1)]
            column = rows[0].index(key)
            if column < len(row):
                row[column] = value if isinstance(value, str) else _dumps(value)
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows(rows)
        path.write_bytes(buffer.getvalue().encode("utf-8", errors="surrogatepass"))
    elif path.suffix == ".jsonl":
        lines = text.rstrip("\n").split("\n")
        rows = [i for i, line in enumerate(lines) if line.startswith("{") and line.rstrip().endswith("}")]
        if not rows:
            return
        index = rows[at % len(rows)]
        row = json.loads(lines[index])
        row[key] = value
        lines[index] = _dumps(row)
        path.write_bytes(_encode("\n".join(lines) + "\n"))
    else:
        root = json.loads(text)
        holders = [n for n in _dict_nodes(root) if key in n]
        if holders:
            holders[at % len(holders)][key] = value
        path.write_bytes(_encode(_dumps(root)))


def _dict_nodes(value: Any) -> list[dict]:
    found = []
    if isinstance(value, dict):
        found.append(value)
        for child in value.values():
            found += _dict_nodes(child)
    elif isinstance(value, list):
        for child in value:
            found += _dict_nodes(child)
    return found


def _field_parquet(path: Path, at: int, key: str, value: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if key not in table.schema.names or not table.num_rows:
        return
    rows = table.to_pylist()
    row = rows[at % len(rows)]
    text = _arrow_text(value if isinstance(value, str) else _dumps(value))
    kind = table.schema.field(key).type
    row[key] = {"bytes": None, "path": text} if pa.types.is_struct(kind) else text
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def _arrow_text(text: str) -> str:
    """Arrow strings are UTF-8: a lone surrogate becomes U+FFFD (invalid bytes are the byte edits' job)."""
    return _encode(text).decode("utf-8", errors="replace")
