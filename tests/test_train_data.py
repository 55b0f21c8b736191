"""Loading builds and MedVLThinker-layout Parquet (medvlt_data.datasets); TRL formatting and SFT/RL
datasets (medvlt_train.data)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medvlt_data.datasets import DatasetLoadError, load_records
from medvlt_data.parquet_io import write_records
from medvlt_data.schema import Record
from medvlt_data.verify import PROMPTS
from medvlt_train.data import rl_dataset, sft_dataset, to_trl_example
from tests.test_schema import medvlthinker_row


def png(color: str, size=(40, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def records() -> list[Record]:
    text = Record(
        question="Which organ makes insulin?",
        options={"A": "Liver", "B": "Pancreas"},
        answer_label="B",
        answer="Pancreas",
        source="medqa",
        source_id="t1",
        split="train",
        reasoning="Beta cells of the islets.",
    )
    image = Record(
        question="Which modality is shown?",
        options={"A": "CT", "B": "MRI", "C": "X-ray"},
        answer_label="A",
        answer="CT",
        source="pmc_vqa",
        source_id="i1",
        split="train",
        images=[png("red"), png("blue", mode="L")],
        reasoning=None,
    )
    blank = Record(
        question="Is this normal?",
        options={"A": "Yes", "B": "No"},
        answer_label="B",
        answer="No",
        source="pmc_vqa",
        source_id="i2",
        split="train",
        images=[png("green")],
        reasoning="  ",
    )
    return [text, image, blank]


@pytest.fixture
def build(tmp_path):
    write_records(records(), tmp_path / "build")
    return tmp_path / "build"


def test_load_from_build_folder_and_parquet_file(build):
    from_folder = list(load_records(build))
    assert [r.source_id for r in from_folder] == ["t1", "i1", "i2"]
    assert from_folder[1].images == records()[1].images
    (shard,) = sorted((build / "data").glob("*.parquet"))
    assert [r.source_id for r in load_records(str(shard))] == ["t1", "i1", "i2"]
    assert len(list(load_records(build, split="train"))) == 3
    with pytest.raises(DatasetLoadError, match="split 'test'"):
        list(load_records(build, split="test"))


def test_load_medvlthinker_layout(tmp_path):
    rows = [medvlthinker_row(r, i) for i, r in enumerate(records())]
    assert "source" not in rows[0]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-00000-of-00001.parquet")
    loaded = list(load_records(tmp_path))
    assert [(r.source, r.source_id, r.split) for r in loaded] == [
        ("medqa", "0", "train"),
        ("pmc_vqa", "1", "train"),
        ("pmc_vqa", "2", "train"),
    ]
    assert loaded[1].options == {"A": "CT", "B": "MRI", "C": "X-ray"}
    assert loaded[1].images == records()[1].images


def test_prompt_text_paper_and_default():
    record = records()[0]
    tail = "\n\nQuestion: Which organ makes insulin?\n\nOptions:\n\nA. Liver\n\nB. Pancreas"
    paper = to_trl_example(record)["prompt"]
    assert paper == [{"role": "user", "content": [{"type": "text", "text": PROMPTS["paper"] + tail}]}]
    assert "before providing the answer.\\nWrite your final" in paper[0]["content"][0]["text"]
    default = to_trl_example(record, prompt="default")["prompt"][0]["content"][0]["text"]
    assert default == (
        "You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
        "before providing the answer.\nWrite your final answer within <answer> </answer> tags." + tail
    )


def test_images_first_and_decoded_rgb():
    example = to_trl_example(records()[1])
    content = example["prompt"][0]["content"]
    assert [part["type"] for part in content] == ["image", "image", "text"]
    assert len(example["prompt"]) == 1 and example["prompt"][0]["role"] == "user"
    assert [im.mode for im in example["images"]] == ["RGB", "RGB"]
    assert [im.getpixel((0, 0)) for im in example["images"]] == [(255, 0, 0), (29, 29, 29)]
    assert (example["answer_label"], example["answer"]) == ("A", "CT")
    assert "completion" not in example


def test_sft_target_exact():
    example = to_trl_example(records()[0], with_target=True)
    assert example["completion"] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "<think> Beta cells of the islets. </think>\n<answer> B </answer>"}
            ],
        }
    ]
    with pytest.raises(ValueError, match="no reasoning"):
        to_trl_example(records()[2], with_target=True)


def test_sft_target_strips_the_reasoning_as_medvlthinker_does():
    # UCSC-VLAA/MedVLThinker data_process/train_dataset/convert_trl_format.py:33 (and _for_vlm.py:33,
    # train/sft/sft_vlm.py:199): f"<think> {reasoning.strip()} </think>\n<answer> {answer_label.strip()} </answer>".
    # DeepSeek-R1 traces start with a newline; unstripped, the target would read "<think> \nOkay...".
    from medvlt_train.data import sft_target

    record = records()[0]
    record.reasoning = "\nOkay, insulin comes from beta cells.\n\n"
    assert sft_target(record) == "<think> Okay, insulin comes from beta cells. </think>\n<answer> B </answer>"
    ds, _ = sft_dataset([record])
    assert ds[0]["completion"][0]["content"][0]["text"] == (
        "<think> Okay, insulin comes from beta cells. </think>\n<answer> B </answer>"
    )


def test_image_example_count_reads_the_arrow_column():
    from medvlt_train.data import image_example_count

    assert image_example_count(rl_dataset(records())) == 2  # the text row has no image
    assert image_example_count(rl_dataset(records()[:1])) == 0
    assert image_example_count(sft_dataset(records())[0]) == 0  # only the text row has a trace


def test_prompt_token_counts_equal_the_processors_expanded_input(tiny_model_env):
    # verl counts a prompt as the processor's input_ids, image tokens expanded, against max_prompt_length
    # (UCSC-VLAA/MedVLThinker train/train-qwen2_5_vl_3b-m23k.sh:21,24); the count here reads only image headers.
    import transformers

    from medvlt_train.data import prompt_token_counts
    from medvlt_train.models import resolve_model

    processor = transformers.AutoProcessor.from_pretrained(resolve_model("tiny"))
    rows = records()
    rows[1].images = [png("red", size=(224, 168)), png("blue", size=(90, 300), mode="L")]
    dataset = rl_dataset(rows)
    counted = prompt_token_counts(dataset, processor, chunk=2)  # two chunks: rows 0-1 and 2
    expected, unexpanded = [], []
    for row in dataset:
        text = processor.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=row["images"] or None, add_special_tokens=False)
        expected.append(len(inputs["input_ids"][0]))
        unexpanded.append(len(processor.tokenizer(text)["input_ids"]))
    assert counted == expected
    assert counted[0] == unexpanded[0] and counted[1] > unexpanded[1] + 10  # images are many tokens each


def test_sft_dataset_leaves_out_rows_without_reasoning():
    ds, counts = sft_dataset(records(), prompt="default")
    assert counts == {"rows": 3, "without_reasoning": 2, "kept": 1}
    assert len(ds) == 1
    assert ds[0]["completion"][0]["content"][0]["text"].startswith("<think> Beta cells")
    assert ds[0]["images"] == []


def test_rl_dataset_mixed_text_and_images():
    ds = rl_dataset(records())
    assert len(ds) == 3
    assert set(ds.column_names) == {"prompt", "images", "answer_label", "answer"}
    assert [len(row["images"]) for row in ds] == [0, 2, 1]
    assert all(im.mode == "RGB" for im in ds[1]["images"])
    assert [p["type"] for p in ds[1]["prompt"][0]["content"]] == ["image", "image", "text"]
    # A text-only dataset has the same schema, so text and image datasets concatenate.
    import datasets

    text_only = rl_dataset(records()[:1])
    assert text_only.features == ds.features
    assert len(datasets.concatenate_datasets([text_only, ds])) == 4


def test_rl_dataset_fills_trl_placeholders():
    from trl.data_utils import prepare_multimodal_messages

    ds = rl_dataset(records())
    for row in ds:
        messages = prepare_multimodal_messages(row["prompt"], images=row["images"])
        filled = [p["image"] for p in messages[0]["content"] if p["type"] == "image"]
        assert len(filled) == len(row["images"])


def test_hub_id_offline_names_the_id(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetLoadError, match="medvlt-test/no-such-dataset"):
        list(load_records("medvlt-test/no-such-dataset@v0.1"))


def test_missing_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetLoadError, match="neither a local path nor a Hub id"):
        list(load_records(str(tmp_path / "nope" / "a" / "b")))
