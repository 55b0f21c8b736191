"""The datatrove steps of a medvlt build that are not filters of their own module.

- :class:`RecipeReader` reads the recipe's sources through the adapters (a share per task);
- :class:`Normalize` tidies whitespace and Unicode of questions and options;
- :class:`Validate` drops records that break the schema, with the problem as the reason;
- :class:`RecordShardWriter` writes kept records in medvlt's Parquet layout, and
  :class:`RecordReader` reads them back as Documents.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import WordTokenizer

from medvlt_data.pipeline.documents import document_to_record, document_to_row, record_to_document
from medvlt_data.pipeline.storage import rejects_writer
from medvlt_data.schema import validate_record


@dataclass
class SourceSpec:
    """One source of a recipe: which adapter, where from, which splits; ``benchmark`` names an eval set."""

    name: str
    path: str | None = None
    hub: str | None = None
    splits: list[str] | None = None
    revision: str | None = None
    config: str | None = None
    benchmark: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """What the build counts this source's records under: its benchmark, else its name."""
        return self.benchmark or self.name

    @property
    def origin(self) -> str:
        if self.path:
            return str(self.path)
        return f"hub:{self.hub}" + (f"@{self.revision}" if self.revision else "")


def read_source(spec: SourceSpec, share: Any = None) -> Iterator[Any]:
    """Records and rejections of one source spec, split after split, unvalidated (with a ``share``
    of a one-item-per-line local layout, other tasks' rows come as ``SKIPPED``)."""
    from medvlt_data.sources import get_source

    source = get_source(spec.name, spec.config)
    for split in spec.splits or [None]:
        yield from source.read(
            path=spec.path, hub=spec.hub, split=split, revision=spec.revision, validate=False, share=share
        )


class RecipeReader(PipelineStep):
    """Reads every source of a recipe; task ``rank`` takes rows ``rank, rank + world_size, ...``
    (where a source's local layout has one item per line, the other rows are skipped unparsed).

    Rows the adapter rejects go to ``{rejects_root}/rejects/read/``; every row read is counted per
    source in ``{work_dir}/read_counts/{rank}.json``.
    """

    name = "read"
    type = "medvlt"

    def __init__(self, specs: list[SourceSpec], work_dir: str, rejects_root: str):
        super().__init__()
        self.specs = specs
        self.work_dir = work_dir
        self.rejects_root = rejects_root

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from medvlt_data.sources import SOURCES, Rejected
        from medvlt_data.sources.base import SKIPPED, Share

        counts: dict[str, int] = {}
        with rejects_writer(self.rejects_root, "read") as rejects:
            for index, spec in enumerate(self.specs):
                key = spec.group
                counts.setdefault(key, 0)
                shared = world_size > 1 and spec.path is not None and SOURCES[spec.name].one_item_per_line
                for position, item in enumerate(
                    read_source(spec, Share(rank, world_size) if shared else None)
                ):
                    mine = position % world_size == rank
                    if shared and mine == (item is SKIPPED):  # the adapter broke one item per line
                        raise RuntimeError(f"{spec.name}: row {position} of a shared read landed in the "
                                           f"wrong task ({item!r} in task {rank} of {world_size})")  # fmt: skip
                    if not mine:
                        continue
                    counts[key] += 1
                    if isinstance(item, Rejected):
                        rejects.write(_rejected_document(item, key), rank)
                        continue
                    if spec.benchmark:  # an eval build has one split per benchmark
                        item.meta["benchmark"] = spec.benchmark
                        item.meta["source_split"] = item.split
                        item.split = spec.benchmark
                    doc = record_to_document(item, (index, position))
                    doc.metadata["group"] = key
                    yield doc
        for key, count in counts.items():
            self.stat_update(f"read_{key}", value=count)
        folder = Path(self.work_dir) / "read_counts"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{rank:05d}.json").write_text(json.dumps(counts, sort_keys=True), encoding="utf-8")


def _rejected_document(item: Any, group: str) -> Document:
    row = {"source": group, "split": item.split, "source_id": item.ref}
    return Document(
        text="",
        id=f"{item.source}:{item.split or '-'}:{item.ref}",
        metadata={"row": row, "filter_reason": item.reason, "reject_detail": item.detail},
    )


_SPACES = re.compile(r"[ \t\u00a0]+")


def _tidy(text: str) -> bool:
    """True when :func:`normalize_text` would leave ``text`` as it is (checked without regexes)."""
    if "  " in text or "\t" in text or "\u00a0" in text or "\r" in text or text != text.strip():
        return False
    return "\n" not in text or all(line == line.strip() for line in text.split("\n"))


def normalize_text(text: str) -> str:
    """NFC, non-breaking spaces and tabs to spaces, runs of spaces collapsed, lines stripped.

    >>> normalize_text("  Which\\u00a0organ  makes\\tinsulin? \\n\\n Options ")
    'Which organ makes insulin?\\n\\nOptions'
    """
    text = unicodedata.normalize("NFC", str(text))
    if _tidy(text):  # the common case
        return text
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


class Normalize(PipelineStep):
    """Tidies the question, the options and the answer text (see :func:`normalize_text`)."""

    name = "normalize"
    type = "medvlt"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        count = 0
        for doc in data:
            row = doc.metadata["row"]
            doc.text = normalize_text(doc.text)
            options = orjson.loads(row["options"])
            tidy = {k: normalize_text(v) for k, v in options.items()}
            if tidy != options:
                row["options"] = json.dumps(tidy, ensure_ascii=False)
            row["answer"] = normalize_text(row["answer"])
            count += 1
            yield doc
        self.stat_update("normalized", value=count)


class Validate(BaseFilter):
    """Drops records that break the schema; the reason is the first problem's code, all are kept."""

    name = "validate"
    type = "medvlt"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        problems = validate_record(document_to_record(doc), check_images=False)
        if not problems:
            return True
        doc.metadata["reject_detail"] = "; ".join(map(str, problems))
        return False, problems[0].code


class RegexWordTokenizer(WordTokenizer):
    """An offline word tokenizer for MinHash: runs of letters/digits, lower-cased by the normalizer."""

    _WORDS = re.compile(r"\w+", re.UNICODE)

    def __init__(self):
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return self._WORDS.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._WORDS.finditer(text)]


class RecordShardWriter(PipelineStep):
    """Writes kept Documents as medvlt Parquet records: ``{folder}/{split}/{rank:05d}.parquet``, or
    with ``by_pass_count`` one file per pass_count, ``{folder}/{split}/{rank:05d}-pass{NN}.parquet``."""

    name = "write"
    type = "medvlt"

    def __init__(self, folder: str, by_pass_count: bool = False):
        super().__init__()
        self.folder, self.by_pass_count = folder, by_pass_count

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from medvlt_data.parquet_io import record_features

        schema = record_features().arrow_schema
        writers: dict[str, pq.ParquetWriter] = {}
        buffers: dict[str, list[dict]] = {}
        written: Counter[str] = Counter()
        for doc in data:
            row = document_to_row(doc)
            split = row["split"] or "train"
            name = f"{split}/{rank:05d}"
            if self.by_pass_count:
                name += f"-pass{row['pass_count']:02d}"
            buffers.setdefault(name, []).append(row)
            if len(buffers[name]) >= 256:
                self._flush(writers, buffers, name, schema)
            written[split] += 1
            yield doc
        for name in list(buffers):
            self._flush(writers, buffers, name, schema)
        for writer in writers.values():
            writer.close()
        for split, count in written.items():
            self.stat_update(f"written_{split}", value=count)

    def _flush(self, writers, buffers, name, schema) -> None:
        if name not in writers:
            path = Path(self.folder) / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writers[name] = pq.ParquetWriter(path, schema)
        writers[name].write_table(pa.Table.from_pylist(buffers[name], schema=schema))
        buffers[name] = []


class RecordReader(PipelineStep):
    """Reads medvlt Parquet records (``{folder}/{split}/*.parquet``) back as Documents; task ``rank``
    takes files ``rank, rank + world_size, ...`` in name order."""

    name = "read records"
    type = "medvlt"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from medvlt_data.schema import from_row

        files = sorted(Path(self.folder).glob("*/*.parquet"))[rank::world_size]
        for number, path in enumerate(files):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                for position, row in enumerate(batch.to_pylist()):
                    yield record_to_document(from_row(row), (number, position))
