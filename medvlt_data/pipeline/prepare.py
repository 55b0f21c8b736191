"""The prepare stage's own steps (the image step and the dedup key have their modules).

- :class:`RecipeReader` reads the recipe's sources (:func:`~medvlt_data.ingest.read_source`, a
  share per task);
- :class:`Normalize` tidies whitespace and Unicode of questions and options
  (:func:`~medvlt_data.text.normalize_text`);
- :class:`Validate` drops records that break the schema, with the problem as the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from medvlt_data.ingest import SourceSpec, read_source
from medvlt_data.pipeline.documents import document_to_record, record_to_document
from medvlt_data.pipeline.storage import rejects_writer
from medvlt_data.schema import validate_record
from medvlt_data.sources import SOURCES, Rejected
from medvlt_data.sources.base import SKIPPED, Share
from medvlt_data.text import normalize_text


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
        counts: dict[str, int] = {}
        with rejects_writer(self.rejects_root, "read") as rejects:
            for index, spec in enumerate(self.specs):
                key = spec.group
                counts.setdefault(key, 0)
                shared = world_size > 1 and spec.path is not None and SOURCES[spec.name].one_item_per_line
                share = Share(rank, world_size) if shared else None
                for position, item in enumerate(read_source(spec, validate=False, share=share)):
                    mine = position % world_size == rank
                    if shared and mine == (item is SKIPPED):  # the adapter broke one item per line
                        raise RuntimeError(f"{spec.name}: row {position} of a shared read landed in the "
                                           f"wrong task ({item!r} in task {rank} of {world_size})")  # fmt: skip
                    if not mine:
                        continue
                    counts[key] += 1
                    if isinstance(item, Rejected):
                        reject = item.as_row(self.name, group=key)
                        rejects.write(Document(text="", id=reject["id"], metadata={"reject": reject}), rank)
                        continue
                    if spec.benchmark:  # an eval build has one split per benchmark
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
