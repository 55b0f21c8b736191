"""Records as datatrove Documents, and back.

A :class:`~datatrove.data.Document` carries one record: ``text`` is the question, ``id`` the record's
reference (``source:split:source_id``), ``media`` its images (encoded bytes, in prompt order) and
``metadata`` every other field of the record plus pipeline annotations:

- ``ordinal``: ``[source position in the recipe, row position in that source]``, the canonical order
  that makes builds independent of how many workers ran them;
- ``image_phash``: perceptual hashes of the images (hex), set by the image step;
- ``dedup_key``: the exact-duplicate key, set by :class:`~medvlt_data.pipeline.exact_dedup.DedupKey`.
"""

from __future__ import annotations

from typing import Any

import orjson
from datatrove.data import Document, Media, MediaType

from medvlt_data.schema import Record, from_row, record_hash, to_row


def record_to_document(record: Record, ordinal: tuple[int, int]) -> Document:
    """Wrap ``record`` (at canonical position ``ordinal``) as a datatrove Document."""
    row = to_row(record)
    row.pop("images")
    media = [
        Media(id=f"{record.ref}#{i}", type=MediaType.IMAGE, url="", media_bytes=data)
        for i, data in enumerate(record.images)
    ]
    return Document(
        text=record.question, id=record.ref, media=media, metadata={"row": row, "ordinal": list(ordinal)}
    )


def document_to_record(doc: Document) -> Record:
    """The record a Document carries, with its (possibly transformed) images and text."""
    row: dict[str, Any] = dict(doc.metadata["row"])
    row["question"] = doc.text
    row["images"] = [m.media_bytes for m in doc.media]
    return from_row(row)


def document_to_row(doc: Document) -> dict[str, Any]:
    """``to_row(document_to_record(doc))`` without building the Record: the row the Document
    carries, with its current question and images and the hash of that question."""
    row: dict[str, Any] = dict(doc.metadata["row"])
    row["question"] = doc.text
    row["images"] = [{"bytes": m.media_bytes, "path": None} for m in doc.media]
    row["hash"] = record_hash(doc.text, row["answer"])
    return row


def document_options(doc: Document) -> dict[str, str]:
    """The options of the record a Document carries (``metadata["row"]["options"]``, a JSON string)."""
    value: Any = doc.metadata.get("row", {}).get("options", {})
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
