"""Records -> TRL's conversational vision-language format, for SFTTrainer and GRPOTrainer.

What TRL 1.16 expects (read from ``trl/trainer/sft_trainer.py``, ``grpo_trainer.py``, ``data_utils.py``):

* A dataset is *vision* when a row has an ``images`` (list) or ``image`` key. SFTTrainer then requires a
  vision-language model (it raises otherwise) and collates on the fly with
  ``DataCollatorForVisionLanguageModeling``; GRPOTrainer keeps only ``prompt``/``image``/``images`` as
  signature columns for the model and hands every other column to the reward functions as keyword lists.
* Both trainers call ``prepare_multimodal_messages(prompt, images=row["images"])``: string contents are
  wrapped into ``{"type": "text"}`` parts with one ``{"type": "image"}`` placeholder per image inserted
  before the text of the first user turn; already-structured contents are kept, and their unfilled
  ``{"type": "image"}`` placeholders are filled with the images in order. The number of placeholders must
  equal ``len(images)`` or it raises. We write the structured form ourselves (images first, then the
  text), so the order is explicit and does not depend on that helper's string handling.
* SFT with ``prompt`` + ``completion`` (conversational) trains on the completion only by default
  (``completion_only_loss``), which is the paper's "loss on the assistant turn only".
* Text-only rows: an empty ``images`` list. Both trainers drop the images argument when every list in
  a batch is empty; a batch mixing ``[]`` and ``[img]`` goes to the processor as a nested list, which
  Qwen2.5-VL's processor accepts (checked on the tiny model). In Arrow the image placeholder part is
  stored as ``{"type": "image", "text": None}`` (struct fields are unified); TRL and the Qwen2.5-VL chat
  template only look at ``type``, so that is harmless. A dataset of only text rows would infer
  ``images`` as ``List(null)``; we always cast to ``List(Image(mode="RGB"))`` so text, image and mixed
  datasets share one schema (and concatenate), and images decode lazily to RGB PIL images on access.
* No system message is added: Qwen2.5-VL's chat template then inserts its own default system prompt
  ("You are a helpful assistant."), as in the paper's runs.

>>> from medvlt_data.schema import Record
>>> r = Record(question="Which organ makes insulin?", options={"A": "Liver", "B": "Pancreas"},
...            answer_label="B", answer="Pancreas", source="demo", source_id="q1", reasoning="Beta cells.")
>>> ex = to_trl_example(r, with_target=True)
>>> [part["type"] for part in ex["prompt"][0]["content"]], ex["images"]
(['text'], [])
>>> ex["completion"][0]["content"][0]["text"]
'<think> Beta cells. </think>\\n<answer> B </answer>'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medvlt_data.parquet_io import parquet_files, read_any_records, shard_split
from medvlt_data.schema import Record
from medvlt_data.verify import build_prompt

__all__ = [
    "DatasetLoadError",
    "DatasetSource",
    "image_example_count",
    "load_records",
    "prompt_token_counts",
    "resolve_dataset",
    "rl_dataset",
    "sft_dataset",
    "sft_target",
    "to_trl_example",
    "trl_features",
]

#: Files fetched from a Hub dataset repository.
HUB_PATTERNS = ["data/*", "*.parquet", "stats.json", "README.md"]


class DatasetLoadError(OSError):
    """A dataset that cannot be found or downloaded; the message names it."""


# ---- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSource:
    """Where a run's data came from, as the model card and the run record cite it.

    ``spec`` is what the user passed; ``path`` the local folder or file read. For a Hub dataset,
    ``repo_id``, the requested ``revision`` (None: main) and the ``commit`` it resolved to. ``version``,
    ``content_hash``, ``name`` and ``demo`` (made from medvlt's demo corpus) come from the build's
    ``stats.json`` when there is one.
    """

    spec: str
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    version: str | None = None
    content_hash: str | None = None
    name: str | None = None
    demo: bool = False  # the build's stats.json says it was made from medvlt's demo corpus

    @property
    def label(self) -> str:
        """``ORG/NAME@revision`` for a Hub dataset (the commit when no revision was asked), else the spec."""
        if self.repo_id is None:
            return self.spec
        return f"{self.repo_id}@{self.revision or self.commit or 'main'}"

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts (no local path for Hub datasets: it is a cache location, not a source)."""
        facts = {"spec": self.spec, "label": self.label, "repo_id": self.repo_id, "revision": self.revision,
                 "commit": self.commit, "version": self.version, "content_hash": self.content_hash,
                 "name": self.name, "demo": True if self.demo else None}  # fmt: skip
        return {key: value for key, value in facts.items() if value is not None}


def resolve_dataset(dataset: str | Path) -> DatasetSource:
    """The :class:`DatasetSource` of a build folder, a Parquet file, or a Hub id ``ORG/NAME[@revision]``
    (downloaded into the Hugging Face cache). A local path wins over a Hub id of the same spelling."""
    spec = str(dataset)
    path = Path(dataset)
    repo_id = revision = commit = None
    if not path.exists():
        snapshot = _download(spec)
        path, repo_id, revision, commit = snapshot.path, snapshot.repo_id, snapshot.revision, snapshot.commit
    stats = _build_stats(path)
    return DatasetSource(spec=spec, path=path, repo_id=repo_id, revision=revision, commit=commit,
                         version=stats.get("version"), content_hash=stats.get("content_hash"),
                         name=stats.get("name"), demo=stats.get("demo") is True)  # fmt: skip


def _build_stats(path: Path) -> dict[str, Any]:
    """The ``stats.json`` of the build that holds ``path`` (a build folder or one of its shards), or {}."""
    for folder in (path, path.parent, path.parent.parent) if path.is_file() else (path,):
        stats = folder / "stats.json"
        if stats.is_file():
            try:
                return json.loads(stats.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetLoadError(f"{stats}: not readable as JSON: {exc}") from exc
    return {}


def load_records(dataset: str | Path | DatasetSource, split: str | None = None) -> Iterator[Record]:
    """Yield the records of a build folder, a Parquet file, or a Hub dataset ``ORG/NAME[@revision]``
    (or of an already resolved :class:`DatasetSource`).

    A local path wins over a Hub id of the same spelling. ``split`` keeps only shards named
    ``{split}-*.parquet``. Rows in MedVLThinker's released layout (no ``source`` column) are read with
    :func:`~medvlt_data.schema.from_medvlthinker`, their split taken from the shard name.
    """
    if isinstance(dataset, DatasetSource):
        dataset, path = dataset.spec, dataset.path
    else:
        path = Path(dataset)
        if not path.exists():
            path = _download(str(dataset)).path
    files = parquet_files(path)
    if split is not None:
        files = [f for f in files if shard_split(f) == split]
    if not files:
        wanted = f" for split {split!r}" if split else ""
        raise DatasetLoadError(f"no Parquet files{wanted} in dataset {dataset!s} ({path})")
    yield from read_any_records(files)


def _download(dataset: str):
    """The Hub snapshot of ``ORG/NAME[@revision]`` (a ``DatasetLoadError`` naming it otherwise)."""
    from medvlt_data.hub import HubError, download, split_revision

    try:
        split_revision(dataset)
    except HubError:
        raise DatasetLoadError(
            f"dataset {dataset!r} is neither a local path nor a Hub id ORG/NAME[@revision]"
        ) from None
    try:
        return download(dataset, "dataset", allow_patterns=HUB_PATTERNS)
    except HubError as exc:
        raise DatasetLoadError(
            f"could not get dataset {dataset!r} from the Hugging Face Hub: {exc}"
        ) from None


# ---- formatting -----------------------------------------------------------------------------------


def sft_target(record: Record) -> str:
    """The SFT assistant text ``"<think> {reasoning} </think>\\n<answer> {answer_label} </answer>"``, with the
    reasoning and the label stripped first, byte for byte as MedVLThinker forms it
    (UCSC-VLAA/MedVLThinker data_process/train_dataset/convert_trl_format.py:33, convert_trl_format_for_vlm.py:33,
    train/sft/sft_vlm.py:199): a DeepSeek-R1 trace that starts with a newline gives ``"<think> First..."``."""
    reasoning = (record.reasoning or "").strip()
    return f"<think> {reasoning} </think>\n<answer> {record.answer_label.strip()} </answer>"


def _has_reasoning(record: Record) -> bool:
    return bool(record.reasoning and record.reasoning.strip())


def _example(record: Record, prompt: str, with_target: bool, images: list[Any]) -> dict[str, Any]:
    content = [{"type": "image"} for _ in record.images]
    content.append({"type": "text", "text": build_prompt(record.question, record.options, prompt=prompt)})
    example = {
        "prompt": [{"role": "user", "content": content}],
        "images": images,
        "answer_label": record.answer_label,
        "answer": record.answer,
    }
    if with_target:
        if not _has_reasoning(record):
            raise ValueError(f"record {record.ref} has no reasoning; it cannot be an SFT example")
        text = sft_target(record)
        example["completion"] = [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
    return example


def to_trl_example(record: Record, prompt: str = "paper", with_target: bool = False) -> dict[str, Any]:
    """One conversational TRL example: ``prompt`` (one user turn, image parts first), ``images`` (RGB PIL),
    ``answer_label``, ``answer`` and, with ``with_target``, the SFT ``completion``."""
    from medvlt_data.images import decode_image

    images = [decode_image(data).convert("RGB") for data in record.images]
    return _example(record, prompt, with_target, images)


def trl_features(with_target: bool = False):
    """The ``datasets.Features`` of :func:`sft_dataset` / :func:`rl_dataset` output."""
    import datasets

    string = datasets.Value("string")
    messages = datasets.List({"role": string, "content": datasets.List({"type": string, "text": string})})
    features = {
        "prompt": messages,
        "images": datasets.List(datasets.Image(mode="RGB")),
        "answer_label": string,
        "answer": string,
    }
    if with_target:
        features["completion"] = messages
    return datasets.Features(features)


def _build(records: Iterable[Record], prompt: str, with_target: bool):
    import datasets

    rows = [
        # Encoded bytes go in; the Image(mode="RGB") feature decodes them lazily on access.
        _example(r, prompt, with_target, [{"bytes": b, "path": None} for b in r.images])
        for r in records
    ]
    return datasets.Dataset.from_list(rows, features=trl_features(with_target))


def sft_dataset(records: Iterable[Record], prompt: str = "paper") -> tuple[Any, dict[str, int]]:
    """SFT dataset (prompt + completion) from the records that have ``reasoning``, and the counts
    ``{"rows", "without_reasoning", "kept"}``."""
    records = list(records)
    kept = [r for r in records if _has_reasoning(r)]
    counts = {"rows": len(records), "without_reasoning": len(records) - len(kept), "kept": len(kept)}
    return _build(kept, prompt, with_target=True), counts


def image_example_count(dataset) -> int:
    """How many examples of a :func:`sft_dataset` / :func:`rl_dataset` output hold at least one image
    (read from the Arrow column; no image is decoded)."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(dataset.data.column("images"))
    return int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)


def prompt_token_counts(dataset, processor, chunk: int = 1024) -> list[int]:
    """The length in tokens of each prompt of a :func:`rl_dataset` output as the model reads it: the chat
    template with the generation prompt, every image expanded to its patch tokens as the Qwen2.5-VL processor
    does (patches of the resized image / merge_size**2), counted from the image headers without decoding."""
    import io

    from PIL import Image

    tokenizer = getattr(processor, "tokenizer", processor)
    image_processor = getattr(processor, "image_processor", None)
    merge = getattr(image_processor, "merge_size", 1) or 1
    counts: list[int] = []
    for start in range(0, len(dataset), chunk):
        rows = dataset.data.slice(start, chunk)
        texts = [processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in rows.column("prompt").to_pylist()]  # fmt: skip
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        for length, images in zip(lengths, rows.column("images").to_pylist(), strict=True):
            for image in images or []:
                with Image.open(io.BytesIO(image["bytes"])) as opened:
                    width, height = opened.size
                length += image_processor.get_number_of_image_patches(height, width, {}) // merge**2 - 1
            counts.append(length)
    return counts


def rl_dataset(records: Iterable[Record], prompt: str = "paper"):
    """RLVR dataset (prompt only, plus the ``answer_label``/``answer`` reward columns) from all records."""
    return _build(records, prompt, with_target=False)
