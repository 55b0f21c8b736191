"""The AdaptLLM/biomed-VQA-benchmark layout of PMC-VQA, PathVQA, SLAKE and VQA-RAD.

The fixture is written in the repository's real layout. Evidence:
- configs ``PMC-VQA``, ``PathVQA``, ``SLAKE``, ``VQA_RAD``, split ``test``: UCSC-VLAA/MedVLThinker
  data_process/prepare_vlm_eval_data.py:59-120 (``load_dataset(path, name, split="test")``);
- columns: data_process/eval_data_exploration.ipynb prints ``['image', 'input', 'label', 'A', 'B',
  'C', 'D']`` for PMC-VQA and ``['image', 'input', 'label', 'answer_type']`` for the other three;
  ``input`` of PMC-VQA is ``"Question: ...\\nThe choices are:\\n(A) ..."`` (prepare_vlm_eval_data.py:27-44);
- files: one ``datasets`` save per config (``pmc_vqa/``, ``pathvqa/``, ``SLAKE/``, ``vqa_rad/``:
  ``data-00000-of-00001.arrow``, ``dataset_info.json``, ``state.json``) mapped by the README's
  ``configs`` (``config_name: VQA_RAD``, ``path: vqa_rad/data-*.arrow``), as the Hub file tree and a
  copy of the dataset card show.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.sources import Rejected, SourceError, get_source
from medvlt_data.sources.biomed_vqa import BIOMED_CONFIGS, BIOMED_HUB_ID, paper_row_hash
from tests import hub_server

hub = hub_server.hub  # the loopback Hub fixture


def _jpeg(color, size=(1400, 900)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


PMC_ROWS = [
    {"image": _jpeg((200, 0, 0)), "label": "B", "A": "CT", "B": "MRI", "C": "PET", "D": "X-ray",
     "input": "Question: Which modality is shown?\nThe choices are:\n(A) CT\n(B) MRI\n(C) PET\n(D) X-ray"},
    {"image": _jpeg((0, 200, 0)), "label": "E", "A": "a", "B": "b", "C": "c", "D": "d",
     "input": "Question: Broken label?\nThe choices are:\n(A) a\n(B) b\n(C) c\n(D) d"},
]  # fmt: skip

CLOSED_ROWS = [
    {"image": _jpeg((0, 0, 200)), "input": "Is there evidence of an aortic aneurysm?", "label": "yes",
     "answer_type": "CLOSED"},
    {"image": _jpeg((0, 0, 180)), "input": "What organ is shown?", "label": "liver", "answer_type": "OPEN"},
    {"image": _jpeg((0, 0, 160)), "input": "Which is the biggest in this image,lung,liver or heart?",
     "label": "Lung", "answer_type": "CLOSED"},
    {"image": _jpeg((0, 0, 140)), "input": "Are there multiple or just 1 metastatic focus?", "label": "one",
     "answer_type": "CLOSED"},
    {"image": _jpeg((0, 0, 120)), "input": "Is this normal?", "label": "No", "answer_type": "CLOSED "},
]  # fmt: skip


def write_biomed_repo(root, configs):
    """Write ``{config: rows}`` as the repository stores them; return ``root``."""
    import datasets
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    folders = {config: folder for config, folder in BIOMED_CONFIGS.values()}
    entries = []
    for config, rows in configs.items():
        columns = list(rows[0])  # the fixture rows carry exactly the config's columns
        features = datasets.Features({c: datasets.Image() if c == "image" else datasets.Value("string")
                                      for c in columns})  # fmt: skip
        data = {c: [{"bytes": r[c], "path": None} if c == "image" else r[c] for r in rows] for c in columns}
        datasets.Dataset.from_dict(data, features=features).save_to_disk(str(root / folders[config]))
        entries.append({"config_name": config,
                        "data_files": [{"split": "test", "path": f"{folders[config]}/data-*.arrow"}]})  # fmt: skip
    front = {"license": "apache-2.0", "task_categories": ["visual-question-answering"], "configs": entries}
    (root / "README.md").write_text(
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n", encoding="utf-8"
    )
    return root


@pytest.fixture(scope="module")
def biomed_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("biomed") / "biomed-VQA-benchmark"
    configs = {"PMC-VQA": PMC_ROWS, "PathVQA": CLOSED_ROWS, "SLAKE": CLOSED_ROWS, "VQA_RAD": CLOSED_ROWS}
    return write_biomed_repo(root, configs)


def test_the_layout_on_disk_is_the_repositorys(biomed_repo):
    for folder in ("pmc_vqa", "pathvqa", "SLAKE", "vqa_rad"):
        names = sorted(p.name for p in (biomed_repo / folder).iterdir())
        assert names == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]


def test_pmc_vqa_config_as_the_paper_reads_it(biomed_repo):
    items = list(get_source("pmc_vqa", "PMC-VQA").read(hub=str(biomed_repo)))
    record, broken = items
    # prepare_vlm_eval_data.py:38-48: "Question: " and the choices tail removed, options A-D, label
    assert (record.question, record.options, record.answer_label, record.answer) == (
        "Which modality is shown?", {"A": "CT", "B": "MRI", "C": "PET", "D": "X-ray"}, "B", "MRI",
    )  # fmt: skip
    assert record.images == [PMC_ROWS[0]["image"]]  # bytes as released
    assert (record.source, record.source_id, record.split) == ("pmc_vqa", "test-00000", "test")
    assert record.meta["layout"] == BIOMED_HUB_ID
    assert isinstance(broken, Rejected) and broken.reason == "unknown-answer-letter"
    assert broken.ref == "test-00001" and "[PMC-VQA/test] row 1: label 'E' is not one of A-D" in broken.detail


@pytest.mark.parametrize("name", ["pathvqa", "slake", "vqa_rad"])
def test_closed_configs_keep_closed_rows_with_rule_options(biomed_repo, name):
    config = BIOMED_CONFIGS[name][0]
    items = list(get_source(name, config).read(hub=str(biomed_repo), split="test"))
    assert len(items) == len(CLOSED_ROWS)
    by_ref = {(i.ref if isinstance(i, Rejected) else i.source_id): i for i in items}
    yes = by_ref["test-00000"]
    assert (yes.options, yes.answer_label, yes.answer) == ({"A": "Yes", "B": "No"}, "A", "Yes")
    assert yes.meta["original_answer"] == "yes"
    assert yes.meta["paper_hash"] == paper_row_hash("Is there evidence of an aortic aneurysm?", "yes")
    assert yes.images == [CLOSED_ROWS[0]["image"]] and yes.source == name
    assert by_ref["test-00001"].reason == "open-ended" and "answer_type 'OPEN'" in by_ref["test-00001"].detail
    biggest = by_ref["test-00002"]
    assert (biggest.options, biggest.answer_label) == ({"A": "Lung", "B": "Liver", "C": "Heart"}, "A")
    # CLOSED, but no options the rule can make: the paper's came from GPT-4o; counted apart
    one = by_ref["test-00003"]
    assert one.reason == "closed-no-options"
    assert f"[{config}/test] row 3: CLOSED question" in one.detail and "GPT-4o" in one.detail
    assert (by_ref["test-00004"].options, by_ref["test-00004"].answer_label) == ({"A": "Yes", "B": "No"}, "B")


def test_a_local_copy_of_the_repository_is_read_by_the_local_path(biomed_repo):
    items = list(get_source("vqa_rad").read(path=biomed_repo, split="test"))
    assert Counter(i.reason if isinstance(i, Rejected) else "kept" for i in items) == {
        "kept": 3, "open-ended": 1, "closed-no-options": 1}  # fmt: skip


def test_config_names_are_checked():
    with pytest.raises(SourceError, match="unknown config 'SLAKE'; the only one is 'VQA_RAD'"):
        get_source("vqa_rad", "SLAKE")
    assert BIOMED_HUB_ID in get_source("slake").layouts and "--config SLAKE" in get_source("slake").layouts


def test_a_row_without_the_layouts_columns_is_rejected_by_name(tmp_path):
    root = write_biomed_repo(tmp_path / "repo", {"VQA_RAD": [{k: v for k, v in CLOSED_ROWS[0].items()
                                                              if k != "answer_type"}]})  # fmt: skip
    (item,) = get_source("vqa_rad", "VQA_RAD").read(hub=str(root))
    assert item.reason == "malformed-row" and "row 0: lacks column(s) answer_type" in item.detail


def test_through_the_loopback_hub(tmp_path, biomed_repo, hub):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(BIOMED_HUB_ID, repo_type="dataset")
    api.upload_folder(folder_path=str(biomed_repo), repo_id=BIOMED_HUB_ID, repo_type="dataset")
    # the Hub id alone selects the layout; the adapter's own Hub id stays the default otherwise
    items = list(get_source("slake").read(hub=BIOMED_HUB_ID, split="test"))
    kept = [i for i in items if not isinstance(i, Rejected)]
    assert len(items) == 5 and len(kept) == 3
    assert [r.images for r in kept] == [[CLOSED_ROWS[i]["image"]] for i in (0, 2, 4)]
