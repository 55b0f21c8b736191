"""Decontamination: exact and near text matches, image matches, false positives, persistence, the filter."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest
from PIL import Image

from medvlt_data.images import decode_image
from medvlt_data.pipeline.decontaminate import BenchmarkIndex, DecontaminationFilter, shingle_set
from medvlt_data.pipeline.documents import record_to_document
from medvlt_data.pipeline.image_step import ImagePrep, image_phash
from medvlt_data.schema import Record
from medvlt_data.sources import Rejected, get_source
from medvlt_data.text import words
from tests.conftest import realdata
from tests.test_pipeline_images import Collector, encode, picture

STEM = "Which of the following is the most likely diagnosis?"
VIGNETTE = (
    "A 58-year-old man comes to the emergency department because of crushing substernal chest pain "
    "that began two hours ago while he was shoveling snow. The pain radiates to his left arm and jaw and "
    "is accompanied by diaphoresis and nausea. He has a history of hypertension, type 2 diabetes mellitus "
    "and hyperlipidemia, and he has smoked one pack of cigarettes daily for thirty years. His pulse is "
    "110/min and blood pressure is 150/95 mm Hg. An electrocardiogram shows ST-segment elevations in "
    "leads II, III and aVF. " + STEM
)
OTHER_VIGNETTE = (
    "A 24-year-old woman comes to the physician because of a three-week history of fatigue, weight loss "
    "and palpitations. She reports heat intolerance and frequent loose stools. Her mother has a thyroid "
    "disorder. Her pulse is 112/min and irregular. Examination shows a diffusely enlarged, nontender "
    "thyroid gland, fine tremor of the outstretched hands and bilateral proptosis. Serum studies show a "
    "suppressed thyroid-stimulating hormone level and elevated free thyroxine. " + STEM
)
OPTIONS = {"A": "Inferior myocardial infarction", "B": "Aortic dissection", "C": "Pericarditis"}
YES_NO = {"A": "Yes", "B": "No"}


def item(question, ref, images=(), options=None, source="bench") -> Record:
    options = options or OPTIONS
    return Record(
        question=question,
        options=options,
        answer_label="A",
        answer=options["A"],
        source=source,
        source_id=ref,
        split="test",
        images=list(images),
    )


def jaccard(a: str, b: str) -> float:
    x, y = (set(shingle_set(words(t)).tolist()) for t in (a, b))
    return len(x & y) / len(x | y)


@pytest.fixture(scope="module")
def scan() -> bytes:
    return encode(picture((320, 240), seed=11))


@pytest.fixture(scope="module")
def index(scan) -> BenchmarkIndex:
    pairs = [
        ("medqa", item(VIGNETTE, "1")),
        ("mmlu", item("Which vitamin deficiency causes scurvy?", "2", options={"A": "C", "B": "D"})),
        (
            "vqa_rad",
            item("Is there a mass in the left lung?", "3", images=[scan], options=YES_NO),
        ),
    ]
    return BenchmarkIndex.build(pairs)


# ---- text ---------------------------------------------------------------------------------------------


def test_exact_text_match(index):
    assert index.match_text(VIGNETTE) == ("medqa", "bench:test:1")


def test_near_text_match(index):
    edited = VIGNETTE.replace(",", "").replace("ago", "ago,").replace(" daily ", " daily, usually ")
    near = edited.upper()  # case and punctuation changed, one word inserted
    assert near != VIGNETTE
    assert 0.8 <= jaccard(near, VIGNETTE) < 1.0  # a real near duplicate, not an exact one
    assert index.match_text(near) == ("medqa", "bench:test:1")


@pytest.mark.parametrize(("length", "matches"), [(44, True), (43, False)])
def test_threshold_verified_exactly(length, matches):
    # one word inserted into n distinct words: Jaccard (n - 8) / (n + 1): 0.8 at 44 words, 0.795 at 43
    words = [f"term{i}" for i in range(length)]
    edited = " ".join([*words[:20], "inserted", *words[20:]])
    assert (jaccard(edited, " ".join(words)) >= 0.8) is matches
    index = BenchmarkIndex.build([("bench", item(" ".join(words), "1"))])
    assert (index.match_text(edited) is not None) is matches


def test_shared_phrasing_does_not_match(index):
    assert STEM in OTHER_VIGNETTE
    assert jaccard(OTHER_VIGNETTE, VIGNETTE) < 0.1
    assert index.match_text(OTHER_VIGNETTE) is None
    assert index.match_text(STEM) is None


def test_short_text_only_items_match_with_their_options(index):
    question = "Which vitamin deficiency causes SCURVY"
    assert index.match_text(question, {"A": "D", "B": "C"}) == ("mmlu", "bench:test:2")
    assert index.match_text(question, {"A": "C", "B": "K"}) is None  # same stem, other question
    assert index.match_text(question) is None


def test_short_image_questions_match_through_images_or_as_text_only_copies(index, scan):
    generic = "Is there a mass in the left lung?"
    # the same generic question over another image is not a leak
    assert index.match_text(generic, YES_NO, has_images=True) is None
    assert index.match_images([image_phash(scan)]) == ("vqa_rad", "bench:test:3")
    # a text-only copy of the question with its options is
    assert index.match_text(generic.upper(), {"A": "no", "B": "yes"}) == ("vqa_rad", "bench:test:3")
    assert index.match_text(generic, {"A": "Mass", "B": "Cyst"}) is None


def test_several_matches_report_the_first_in_sorted_order():
    pairs = [("zeta", item(VIGNETTE, "9")), ("alpha", item(VIGNETTE, "5")), ("alpha", item(VIGNETTE, "10"))]
    for order in (pairs, pairs[::-1]):
        assert BenchmarkIndex.build(order).match_text(VIGNETTE) == ("alpha", "bench:test:10")


# ---- images ---------------------------------------------------------------------------------------------


def test_image_match_after_reencode_and_resize(index, scan):
    image = decode_image(scan)
    smaller = image.resize((288, 216), Image.Resampling.BICUBIC)
    copy = encode(smaller, "JPEG", quality=70)
    assert copy != scan
    assert index.match_images([image_phash(copy)]) == ("vqa_rad", "bench:test:3")


def test_different_image_does_not_match(index, scan):
    others = [image_phash(encode(picture((320, 240), seed=s))) for s in range(20, 30)]
    assert all((int(h, 16) ^ int(image_phash(scan), 16)).bit_count() > 4 for h in others)
    assert index.match_images(others) is None


def test_flat_images_never_match():
    blank = encode(Image.new("RGB", (100, 100), "white"))
    index = BenchmarkIndex.build([("b", item("Is this normal?", "1", images=[blank]))])
    assert len(index.phashes) == 0
    assert index.match_images([image_phash(encode(Image.new("RGB", (60, 80), "white")))]) is None


# ---- persistence ----------------------------------------------------------------------------------------


def test_save_load_round_trip(index, scan, tmp_path):
    path = index.save(tmp_path / "bench.npz")
    loaded = BenchmarkIndex.load(path)
    assert loaded.params == index.params and loaded.items == index.items
    for name in BenchmarkIndex._ARRAYS:
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
    assert loaded.match_text(VIGNETTE.lower()) == ("medqa", "bench:test:1")
    assert loaded.match_images([image_phash(scan)]) == ("vqa_rad", "bench:test:3")
    assert loaded.match_text(OTHER_VIGNETTE) is None


def test_an_index_of_another_format_is_refused_with_its_path(index, tmp_path):
    path = index.save(tmp_path / "old.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    arrays["header"] = np.array(json.dumps({**header, "format": 1}))  # the blake2b / mod 2**31-1 layout
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match=r"old\.npz: benchmark index format 1, this medvlt reads format 2"):
        BenchmarkIndex.load(path)


def test_pickling(index, scan, tmp_path):
    copy = pickle.loads(pickle.dumps(index))
    assert copy.match_text(VIGNETTE) == ("medqa", "bench:test:1")
    step = DecontaminationFilter(index.save(tmp_path / "bench.npz"))
    step.index  # noqa: B018  (loads it)
    restored = pickle.loads(pickle.dumps(step))
    assert restored._index is None  # a step built from a path pickles without the index
    assert restored.index.match_images([image_phash(scan)]) == ("vqa_rad", "bench:test:3")


# ---- the datatrove step -----------------------------------------------------------------------------


def test_filter_on_documents(index, scan):
    copy = encode(decode_image(scan), "JPEG", quality=80)
    docs = [
        record_to_document(item(VIGNETTE.replace("two hours", "2 hours"), "t1", source="train"), (0, 0)),
        record_to_document(item(OTHER_VIGNETTE, "t2", source="train"), (0, 1)),
        record_to_document(item("What is seen here?", "t3", images=[copy], source="train"), (0, 2)),
        record_to_document(
            item("What is seen here?", "t4", images=[encode(picture(seed=5))], source="train"), (0, 3)
        ),
        record_to_document(
            item("Is there a mass in the left lung?", "t5", options=YES_NO, source="train"), (0, 4)
        ),
        record_to_document(
            item("Is there a mass in the left lung?", "t6", images=[encode(picture(seed=6))], options=YES_NO),
            (0, 5),
        ),
    ]
    writer = Collector()
    step = DecontaminationFilter(index, exclusion_writer=writer)
    kept = list(step.run(ImagePrep().run(docs)))
    assert [d.id for d in kept] == ["train:test:t2", "train:test:t4", "bench:test:t6"]
    assert [(d.id, d.metadata["filter_reason"], d.metadata["contaminated_by"]) for d in writer.docs] == [
        ("train:test:t1", "contaminated:medqa", "bench:test:1"),
        ("train:test:t3", "contaminated:vqa_rad", "bench:test:3"),
        ("train:test:t5", "contaminated:vqa_rad", "bench:test:3"),
    ]
    assert step.stats["dropped_contaminated:medqa"].total == 1
    assert step.stats["dropped_contaminated:vqa_rad"].total == 2
    assert (step.stats["text_match"].total, step.stats["image_match"].total) == (2, 1)


def test_filter_uses_stored_phash_else_computes_it(index, scan):
    stored = record_to_document(item("What is seen here?", "s", images=[encode(picture(seed=7))]), (0, 0))
    stored.metadata["image_phash"] = [image_phash(scan)]  # the step trusts the image step's hashes
    raw = record_to_document(item("What is seen here?", "r", images=[scan]), (0, 1))
    assert list(DecontaminationFilter(index).run([stored, raw])) == []


def test_from_documents_matches_build(scan):
    records = [item(VIGNETTE, "1"), item("Is the heart enlarged?", "2", images=[scan])]
    index = BenchmarkIndex.from_documents([record_to_document(r, (0, i)) for i, r in enumerate(records)])
    assert index.benchmarks == ["bench"]
    assert index.match_text(VIGNETTE) == ("bench", "bench:test:1")
    assert index.match_images([image_phash(scan)]) == ("bench", "bench:test:2")


# ---- real data: false positives and recall -----------------------------------------------------------


def test_real_images_distinct_and_matched_after_reencode():
    files = sorted(realdata("vqa_rad", "images").glob("*.jpg"))[:20]
    hashes = [int(image_phash(f.read_bytes()), 16) for f in files]
    distances = [(a ^ b).bit_count() for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > 4
    pairs = [("vqa_rad", item("Is this normal?", f.stem, images=[f.read_bytes()])) for f in files]
    index = BenchmarkIndex.build(pairs)
    for f in files:
        image = decode_image(f.read_bytes()).convert("RGB")
        copy = image.resize((image.width * 9 // 10, image.height * 9 // 10), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        copy.save(buffer, format="JPEG", quality=70)
        assert index.match_images([image_phash(buffer.getvalue())]) == ("vqa_rad", f"bench:test:{f.stem}")


def test_real_medqa_halves_do_not_match_each_other():
    records = [r for r in get_source("medqa").read(path=realdata("medqa")) if not isinstance(r, Rejected)]
    index = BenchmarkIndex.build(("medqa", r) for r in records[::2])
    others = records[1::2]
    assert sum(index.match_text(r.question, r.options) is not None for r in others) == 0
    for r in records[:40:2]:  # and every indexed question is found again with one word inserted
        words = r.question.split()
        edited = " ".join([*words[:3], "reportedly", *words[3:]])
        assert index.match_text(edited.lower(), r.options) == ("medqa", r.ref)


def test_real_vqa_rad_generic_questions_do_not_leak_across_images():
    source = get_source("vqa_rad")
    test, train = (
        [
            r
            for r in source.read(path=realdata("vqa_rad"), split=split, validate=False)
            if isinstance(r, Record)
        ]
        for split in ("test", "train")
    )
    index = BenchmarkIndex.build(("vqa_rad", r) for r in test)
    questions = {t.question.casefold() for t in test}
    shared_text = [r for r in train if r.question.casefold() in questions]
    assert len(shared_text) > 50  # "Is the heart enlarged?" and the like recur over other images
    assert all(index.match_text(r.question, r.options, has_images=True) is None for r in train)
    assert index.match_text(test[0].question, test[0].options) == ("vqa_rad", test[0].ref)


def _m1_prompt_ratio(question: str, options: dict[str, str]) -> float:
    """rapidfuzz ``fuzz.ratio`` of m1's prompt (question, newline, "A. text" lines; m1 medqa.py:39-43)
    against the bare question, as decontaminate.py:102-129 compares them. The question is a prefix of
    the prompt, so the Indel distance is the length difference and the ratio is 200 * q / (q + p)."""
    prompt = question + "\n" + "\n".join(f"{letter}. {text}" for letter, text in options.items())
    return 200 * len(question) / (len(question) + len(prompt))


@pytest.mark.parametrize(("name", "folder", "m1_finds"), [("medqa", "medqa", 330), ("medmcqa", "medmcqa", 7)])
def test_verbatim_benchmark_copies_are_all_found_where_m1s_ratio_finds_few(name, folder, m1_finds):
    """Every real benchmark question copied verbatim into the pool is found by the index; m1's method
    (prompt with options against the option-less question, ratio >= 95) would find only ``m1_finds``."""
    records = [r for r in get_source(name).read(path=realdata(folder)) if not isinstance(r, Rejected)]
    index = BenchmarkIndex.build((name, r) for r in records)
    found = [index.match_text(r.question, r.options) for r in records]
    assert all(match is not None and match[0] == name for match in found)
    # found as itself, or as an earlier copy of the same question within the benchmark
    assert sum(match == (name, r.ref) for match, r in zip(found, records, strict=True)) > 0.97 * len(records)
    assert sum(_m1_prompt_ratio(r.question, r.options) >= 95 for r in records) == m1_finds


def test_minhash_bands_of_no_shingles_is_a_clear_error():
    from medvlt_data.pipeline.decontaminate import minhash_bands

    assert minhash_bands(shingle_set(["a", "b", "c", "d", "e", "f"]), 112, 14).shape == (14,)
    with pytest.raises(ValueError, match="no shingles"):
        minhash_bands(shingle_set([]), 112, 14)
