"""The dataset card: Hub-valid YAML metadata, counts that balance, deterministic plots, written files."""

from __future__ import annotations

import base64
import copy
import inspect
import io
import re

import pytest
import yaml
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

from hub_cards.dataset_card import (
    plot_pass_counts,
    plot_records_per_source,
    render_dataset_card,
    size_category,
    write_dataset_card,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def example_stats() -> dict:
    """Stats of a small mixed text+image build: 1,400 read = 1,234 kept + 166 dropped."""
    return {
        "name": "mixed-all",
        "pretty_name": "MedVLT mixed (all sources)",
        "description": """Every text and image source, merged.

        Deduplicated exactly and decontaminated against the six evaluation benchmarks.""",
        "recipe_version": 1,
        "version": "v1-0123456789ab",
        "content_hash": "ab" * 32,
        "medvlt_version": "0.1.0",
        "licenses": ["cc-by-4.0", "mit"],
        "modality": "mixed",
        "num_records": 1234,
        "splits": {"train": 1200, "test": 34},
        "sources": [
            {
                "name": "medqa",
                "origin": "hub:GBaker/MedQA-USMLE-4-options@6a1b2c3",
                "read": 1000,
                "kept": 900,
            },
            {"name": "pmc_vqa", "origin": "/data/raw/pmc_vqa", "read": 400, "kept": 334},
        ],
        "drops": {
            "validate": {"unknown-answer-letter": 17, "missing-image": 3},
            "dedup_exact": {"duplicate": 50},
            "decontaminate": {"vqa_rad": 2, "pathvqa": 0},
            "difficulty_band": {"too-easy": 60, "too-hard": 34},
        },
        "decontamination": {"vqa_rad": 2, "pathvqa": 0},
        "pass_counts": {"0": 34, "1": 100, "3": 500, "7": 634, "16": 60},
        "difficulty": {"model": "Qwen/Qwen2.5-VL-3B-Instruct", "rollouts": 16, "band": [1, 7]},
        "recipe": {"dedup": "exact", "near_dup_threshold": 0.8, "sources": ["medqa", "pmc_vqa"]},
        "features": ["images", "question", "options", "answer_label", "answer", "source"],
    }


def text_stats() -> dict:
    """A text-only build with one license and no difficulty scoring."""
    stats = example_stats()
    stats.update(
        name="text-all",
        modality="text",
        licenses=["mit"],
        pass_counts=None,
        difficulty=None,
        num_records=900,
        splits={"train": 900},
        sources=[stats["sources"][0]],
        drops={"validate": {"unknown-answer-letter": 40}, "dedup_exact": {"duplicate": 60}},
        decontamination={},
    )
    return stats


def card_text(stats: dict) -> str:
    """The card with linked plots: the text under test without the cost of drawing the plots."""
    return render_dataset_card(stats, embed_images=False)


def front_matter(card: str) -> dict:
    match = re.match(r"\A---\n(.*?\n)---\n", card, re.DOTALL)
    assert match, "the card must open with a YAML front matter block"
    return yaml.safe_load(match.group(1))


def body(card: str) -> str:
    return card.split("\n---\n", 1)[1]


def is_png(data: bytes) -> bool:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return image.format == "PNG" and image.width > 100 and image.height > 100


# --- size categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "bucket"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (9_999, "1K<n<10K"),
        (10_000, "10K<n<100K"),
        (23_493, "10K<n<100K"),
        (176_948, "100K<n<1M"),
        (1_000_000, "1M<n<10M"),
        (99_999_999, "10M<n<100M"),
        (10**9, "1B<n<10B"),
        (10**12, "n>1T"),
    ],
)
def test_size_category_uses_the_hub_buckets(n, bucket):
    assert size_category(n) == bucket


def test_size_category_rejects_negative_counts():
    with pytest.raises(ValueError, match="negative"):
        size_category(-1)


# --- metadata ----------------------------------------------------------------------------------


def test_front_matter_is_hub_dataset_metadata():
    card = card_text(example_stats())
    meta = front_matter(card)
    assert meta["license"] == ["cc-by-4.0", "mit"]
    assert meta["task_categories"] == ["question-answering", "visual-question-answering"]
    assert meta["language"] == ["en"]
    assert meta["tags"] == ["medical", "multiple-choice", "medvlt"]
    assert meta["size_categories"] == ["1K<n<10K"]
    assert meta["pretty_name"] == "MedVLT mixed (all sources)"
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/train-*.parquet"},
                {"split": "test", "path": "data/test-*.parquet"},
            ],
        }
    ]

    data = DatasetCard(card).data
    assert isinstance(data, DatasetCardData)
    assert data.license == ["cc-by-4.0", "mit"]
    assert data.task_categories == ["question-answering", "visual-question-answering"]
    assert data.size_categories == ["1K<n<10K"]
    assert data.pretty_name == meta["pretty_name"]
    assert data.configs == meta["configs"]
    assert data.tags == meta["tags"]


def test_metadata_survives_a_dataset_card_data_round_trip():
    meta = front_matter(card_text(example_stats()))
    again = DatasetCardData(**meta).to_dict()
    for key, value in meta.items():
        assert again[key] == value, key
    assert yaml.safe_load(DatasetCardData(**meta).to_yaml()) == again


def test_text_only_single_license_metadata():
    card = card_text(text_stats())
    meta = front_matter(card)
    assert meta["license"] == "mit"
    assert meta["task_categories"] == ["question-answering"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]
    assert DatasetCard(card).data.license == "mit"


def test_licenses_are_deduplicated_and_other_is_allowed():
    stats = example_stats()
    stats["licenses"] = ["cc-by-4.0", "other", "CC-BY-4.0"]
    meta = front_matter(card_text(stats))
    assert meta["license"] == ["cc-by-4.0", "other"]


def test_a_pretty_name_that_needs_yaml_quoting_round_trips():
    stats = example_stats()
    stats["pretty_name"] = "MedVLT: text | image # all, 'quoted'"
    card = card_text(stats)
    assert front_matter(card)["pretty_name"] == stats["pretty_name"]
    assert DatasetCard(card).data.pretty_name == stats["pretty_name"]


# --- body --------------------------------------------------------------------------------------


def test_body_names_every_source_reason_and_benchmark_with_its_count():
    stats = example_stats()
    text = body(card_text(stats))
    for source in stats["sources"]:
        row = (
            f"| {source['name']} | {source['origin']} | {source['read']:,} | {source['kept']:,} | "
            f"{source['read'] - source['kept']:,} |"
        )
        assert row in text
    for step, reasons in stats["drops"].items():
        for reason, count in reasons.items():
            assert f"| {step} | {reason} | {count:,} |" in text
    for benchmark, count in stats["decontamination"].items():
        assert f"| {benchmark} | {count:,} |" in text
    for split, count in stats["splits"].items():
        assert f"| {split} | {count:,} |" in text


def test_read_equals_kept_plus_dropped_is_stated():
    text = body(card_text(example_stats()))
    assert "1,400 read = 1,234 kept + 166 dropped" in text
    assert "1,000 read = 900 kept + 100 dropped" in body(card_text(text_stats()))


def test_build_facts_recipe_and_loading_are_in_the_body():
    stats = example_stats()
    text = body(card_text(stats))
    for fact in (stats["version"], stats["content_hash"], stats["medvlt_version"], "`mixed-all`"):
        assert fact in text
    assert "| recipe version | 1 |" in text
    assert text.count("# MedVLT mixed (all sources)") == 1
    assert "Deduplicated exactly and decontaminated" in text
    assert "\n        Deduplicated" not in text  # the docstring's indentation is cleaned up
    recipe_block = re.search(r"```yaml\n(.*?)```", text, re.DOTALL).group(1)
    assert yaml.safe_load(recipe_block) == stats["recipe"]
    assert (
        'load_dataset("parquet", data_files={"train": "data/train-*.parquet", "test": "data/test-*.parquet"})'
        in text
    )
    assert 'load_dataset("ORG/mixed-all", revision="v1-0123456789ab")' in text
    assert "not be used to make clinical" in text
    assert "## Intended use" in text


def test_repo_id_is_used_in_the_loading_example_when_given():
    stats = example_stats()
    stats["repo_id"] = "medvlt/mixed-all"
    assert 'load_dataset("medvlt/mixed-all", revision="v1-0123456789ab")' in card_text(stats)


def test_created_date_is_shown_only_when_given():
    stats = example_stats()
    assert "| created |" not in card_text(stats)
    stats["created"] = "2025-08-04"
    assert "| created | 2025-08-04 |" in card_text(stats)


def test_table_cells_escape_pipes():
    stats = example_stats()
    stats["drops"]["validate"] = {"a|b": 20}
    assert "| validate | a\\|b | 20 |" in card_text(stats)


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("sources", lambda s: s[0].update(read=1001), "1401 read != 1234 kept \\+ 166 dropped"),
        ("splits", lambda s: s.update(train=1199), "splits hold 1233"),
        ("drops", lambda s: s["validate"].update({"missing-image": 4}), "read != "),
    ],
)
def test_counts_that_do_not_balance_are_refused(field, change, message):
    stats = example_stats()
    change(stats[field])
    with pytest.raises(ValueError, match=message):
        card_text(stats)


def test_missing_keys_are_named():
    stats = example_stats()
    del stats["content_hash"], stats["splits"]
    with pytest.raises(ValueError, match="content_hash, splits"):
        card_text(stats)


# --- plots -------------------------------------------------------------------------------------


def test_embedded_plots_are_valid_pngs_and_deterministic():
    stats = example_stats()
    first, second = render_dataset_card(stats), render_dataset_card(copy.deepcopy(stats))
    assert first == second
    assert DatasetCard(first).data.license == ["cc-by-4.0", "mit"]  # long data URIs do not upset the parser
    images = {alt: base64.b64decode(data) for alt, data in DATA_URI.findall(first)}
    assert set(images) == {"records per source", "pass-count histogram"}
    assert all(is_png(png) for png in images.values())
    assert b"Software" not in images["records per source"]
    assert b"Matplotlib" not in images["records per source"]


def test_plot_functions_give_identical_bytes_on_repeat():
    sources = example_stats()["sources"]
    assert plot_records_per_source(sources) == plot_records_per_source(sources)
    counts = {0: 3, 1: 5, 7: 2}
    assert plot_pass_counts(counts, (1, 7), 16) == plot_pass_counts(counts, (1, 7), 16)
    assert plot_pass_counts(counts, (1, 7), 16) != plot_pass_counts(counts, (2, 7), 16)


def test_pass_count_plot_and_difficulty_sentence_only_with_pass_counts():
    with_scores = render_dataset_card(example_stats())
    assert "![pass-count histogram](data:image/png;base64," in with_scores
    assert (
        "Scored by **Qwen/Qwen2.5-VL-3B-Instruct** with 16 rollouts per question, graded by the recipe's strict grader; kept 1 <= pass_count <= 7."
        in with_scores
    )
    assert "| 16 | 60 |" in with_scores

    without = render_dataset_card(text_stats())
    assert "pass-count histogram" not in without
    assert "## Difficulty" not in without
    assert "Scored by" not in without
    assert [alt for alt, _ in DATA_URI.findall(without)] == ["records per source"]


def test_linked_variant_has_no_data_uris():
    card = render_dataset_card(example_stats(), embed_images=False)
    assert "data:image/png" not in card
    assert "![records per source](assets/records_per_source.png)" in card
    assert "![pass-count histogram](assets/pass_counts.png)" in card


# --- written files ------------------------------------------------------------------------------


def test_write_dataset_card_writes_readme_and_linked_plots(tmp_path):
    readme = write_dataset_card(example_stats(), tmp_path / "build")
    assert readme == tmp_path / "build" / "README.md"
    card = readme.read_text(encoding="utf-8")
    assert "data:image/png" not in card
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card)
    assert links == ["assets/records_per_source.png", "assets/pass_counts.png"]
    for link in links:
        assert is_png((readme.parent / link).read_bytes())
    assert card == render_dataset_card(example_stats(), embed_images=False)
    assert DatasetCard.load(readme).data.pretty_name == "MedVLT mixed (all sources)"


def test_write_dataset_card_is_byte_identical_across_builds(tmp_path):
    first = write_dataset_card(example_stats(), tmp_path / "a").parent
    second = write_dataset_card(example_stats(), tmp_path / "b").parent
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == ["README.md", "assets/pass_counts.png", "assets/records_per_source.png"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_write_dataset_card_without_pass_counts_writes_one_plot(tmp_path):
    readme = write_dataset_card(text_stats(), tmp_path)
    assert (tmp_path / "assets" / "records_per_source.png").is_file()
    assert not (tmp_path / "assets" / "pass_counts.png").exists()
    assert "pass_counts.png" not in readme.read_text(encoding="utf-8")


def test_rewriting_without_pass_counts_removes_the_stale_plot(tmp_path):
    write_dataset_card(example_stats(), tmp_path)
    assert (tmp_path / "assets" / "pass_counts.png").is_file()
    write_dataset_card(text_stats(), tmp_path)
    assert not (tmp_path / "assets" / "pass_counts.png").exists()


def test_a_demo_build_says_so_in_its_first_lines_and_tags():
    from hub_cards.dataset_card import DEMO_NOTE

    demo = card_text({**text_stats(), "demo": True})
    lines = body(demo).strip().splitlines()
    assert lines[:3] == ["# MedVLT mixed (all sources)", "", f"**{DEMO_NOTE}**"]
    assert front_matter(demo)["tags"] == ["medical", "multiple-choice", "medvlt", "demo"]
    assert DatasetCard(demo).data.tags == ["medical", "multiple-choice", "medvlt", "demo"]
    for stats in (text_stats(), {**text_stats(), "demo": False}):  # absent or false: a real build
        card = card_text(stats)
        assert "Demo build" not in card and "demo" not in front_matter(card)["tags"]
        assert body(card).strip().splitlines()[2] == inspect.cleandoc(stats["description"]).splitlines()[0]
