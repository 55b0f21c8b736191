"""Image references confined to their dataset folder: ``..``, absolute paths, symlinks and zip members
that lead outside are rejected as ``image-outside-root`` without the outside file being touched."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from medvlt_data.images import ImageError, ImageOutsideRoot, ImageStore, image_in, image_to_bytes
from medvlt_data.sources import Rejected, get_source

OUTSIDE = "image-outside-root"


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


INSIDE, SECRET = _png((10, 200, 10)), _png((250, 1, 2))


@pytest.fixture
def outside(tmp_path) -> Path:
    """``tmp_path/outside/secret.png``, a file beside (not inside) the dataset folders of the tests."""
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.png"
    secret.write_bytes(SECRET)
    return secret


def _by_ref(items) -> dict[str, object]:
    return {(i.ref if isinstance(i, Rejected) else i.source_id): i for i in items}


def _assert_confined(items, kept: set[str], escaped: set[str]) -> None:
    """``kept`` refs are records with the inside image; ``escaped`` are image-outside-root rejects."""
    by_ref = _by_ref(items)
    assert set(by_ref) == kept | escaped
    for ref in kept:
        assert not isinstance(by_ref[ref], Rejected), by_ref[ref]
        assert by_ref[ref].images == [INSIDE]
    reasons = {ref: (by_ref[ref].reason, "not found" in by_ref[ref].detail) for ref in escaped}
    assert reasons == {ref: (OUTSIDE, False) for ref in escaped}
    assert not any(SECRET in getattr(i, "images", []) for i in items)


def _plant_links(folder: Path, outside: Path) -> None:
    """In ``folder``: a symlink to the secret, a dangling one to a missing outside file, and a
    symlinked subfolder that is the outside folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link.png").symlink_to(outside)
    (folder / "dangling.png").symlink_to(outside.parent / "missing.png")
    (folder / "out").symlink_to(outside.parent, target_is_directory=True)


# ---- the resolver ----------------------------------------------------------------------------------


def test_image_in_confines_names_and_symlinks(tmp_path, outside):
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(INSIDE)
    (root / "inner.png").symlink_to("a/x.png")  # a relative link that stays inside
    (root / "chain.png").symlink_to(root / "inner.png")  # an absolute link to a link inside
    (root / "rel.png").symlink_to("../outside/secret.png")  # a relative link that climbs out
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    _plant_links(root, outside)
    assert image_in(root, "a/x.png") == (root / "a" / "x.png").resolve()
    assert image_in(root, "./a/../a/x.png") == (root / "a" / "x.png").resolve()
    assert image_in(root, "inner.png") == image_in(root, "chain.png") == (root / "a" / "x.png").resolve()
    assert image_in(root, "absent/x.png") == root.resolve() / "absent" / "x.png"  # may not exist
    assert image_in(root, str(root / "a" / "x.png")) == (root / "a" / "x.png").resolve()
    for name in ["../outside/secret.png", "x/../../outside/secret.png", "x/../../outside/missing.png",
                 str(outside), "/nowhere/missing.png", "link.png", "dangling.png", "out/secret.png",
                 "out/missing.png", "a\\..\\..\\outside\\secret.png", "rel.png"]:  # fmt: skip
        with pytest.raises(ImageOutsideRoot, match="outside"):
            image_in(root, name)
    with pytest.raises(ImageError, match="too many levels of symlinks") as loop:
        image_in(root, "loop1")
    assert loop.value.reason == "missing-image"


def test_symlinked_image_folder_itself_is_the_root(tmp_path):
    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    (real / "a" / "x.png").write_bytes(INSIDE)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "imgs").symlink_to(real, target_is_directory=True)
    assert ImageStore([tmp_path / "ds" / "imgs"]).read("a/x.png") == INSIDE


def test_outside_files_are_never_touched(tmp_path, outside, monkeypatch):
    root = tmp_path / "imgs"
    _plant_links(root, outside)
    touched: list[str] = []
    for name in ("stat", "lstat", "open", "readlink"):
        real = getattr(os, name)

        def spy(path, *args, _real=real, **kwargs):
            touched.append(os.fspath(path) if not isinstance(path, int) else "")
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    store = ImageStore([root])
    for name in ["x/../../outside/secret.png", str(outside), "link.png", "dangling.png", "out/secret.png"]:
        with pytest.raises(ImageOutsideRoot):
            store.read(name)
    monkeypatch.undo()
    assert touched and not [p for p in touched if str(outside.parent) in p and "imgs" not in p]


def test_zip_members_that_leave_the_archive(tmp_path):
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("imgs/xmlab1/source.jpg", INSIDE)
        handle.writestr("../xmlab9/secret.png", SECRET)
        handle.writestr("/abs/xmlab8/secret.png", SECRET)
        link = zipfile.ZipInfo("imgs/xmlab7/secret.png")
        link.external_attr = (0o120777 << 16) | 0x10
        handle.writestr(link, "../../../outside/secret.png")
    assert "../xmlab9/secret.png" in zipfile.ZipFile(archive).namelist()
    store = ImageStore([archive])
    assert store.read("xmlab1/source.jpg") == INSIDE
    for name in ["xmlab9/secret.png", "../xmlab9/secret.png", "xmlab8/secret.png", "/abs/xmlab8/secret.png",
                 "xmlab7/secret.png", "xmlab1/../../x.png"]:  # fmt: skip
        with pytest.raises(ImageOutsideRoot, match="outside"):
            store.read(name)
    with pytest.raises(ImageError, match="not found"):
        store.read("xmlab6/source.jpg")


def test_a_path_needs_a_root_to_be_read(tmp_path, outside):
    for value in (str(outside), outside, {"bytes": None, "path": str(outside)}):
        with pytest.raises(ImageOutsideRoot, match="no dataset folder"):
            image_to_bytes(value)
    with pytest.raises(ImageOutsideRoot, match="outside"):
        image_to_bytes({"bytes": None, "path": "../outside/secret.png"}, root=tmp_path / "ds")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "x.png").write_bytes(INSIDE)
    assert image_to_bytes({"bytes": None, "path": "x.png"}, root=tmp_path / "ds") == INSIDE
    assert image_to_bytes({"bytes": SECRET, "path": str(outside)}) == SECRET  # embedded bytes win


# ---- per layout ------------------------------------------------------------------------------------


def _slake_row(qid, img):
    return {"qid": qid, "img_id": 1, "img_name": img, "question": "Is the lung healthy?", "answer": "No",
            "q_lang": "en", "answer_type": "CLOSED", "location": "Lung", "modality": "X-Ray"}  # fmt: skip


#: Names that leave ``imgs/`` of ``tmp_path/ds`` toward ``tmp_path/outside``; existing and missing.
ESCAPES = {
    "up": "x/../../../outside/secret.png",
    "up-missing": "x/../../../outside/missing.png",
    "link": "xmlab1/link.png",
    "dangling": "xmlab1/dangling.png",
    "dir": "xmlab1/out/secret.png",
}


def test_slake_folder(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "imgs" / "xmlab1").mkdir(parents=True)
    (ds / "imgs" / "xmlab1" / "source.jpg").write_bytes(INSIDE)
    _plant_links(ds / "imgs" / "xmlab1", outside)
    rows = [_slake_row("ok", "xmlab1/source.jpg"), _slake_row("abs", str(outside))]
    rows += [_slake_row(ref, name) for ref, name in ESCAPES.items()]
    (ds / "test.json").write_text(json.dumps(rows))
    items = list(get_source("slake").read(path=ds))
    _assert_confined(items, {"ok"}, {"abs", *ESCAPES})
    details = _by_ref(items)  # an existing and a missing outside file: the same words
    assert details["up"].detail.replace("secret", "missing").replace("qid up", "qid up-missing") == (
        details["up-missing"].detail
    )


def test_slake_zip(tmp_path, outside):
    ds = tmp_path / "ds"
    ds.mkdir()
    with zipfile.ZipFile(ds / "imgs.zip", "w") as handle:
        handle.writestr("imgs/xmlab1/source.jpg", INSIDE)
        handle.writestr("../xmlab9/secret.png", SECRET)
    rows = [_slake_row("ok", "xmlab1/source.jpg"), _slake_row("member", "xmlab9/secret.png"),
            _slake_row("up", "x/../../../outside/secret.png")]  # fmt: skip
    (ds / "test.json").write_text(json.dumps(rows))
    _assert_confined(list(get_source("slake").read(path=ds)), {"ok"}, {"member", "up"})


def _vqa_rad_row(qid, image):
    return {"qid": qid, "image_name": image, "image_organ": "CHEST", "answer": "Yes", "answer_type": "CLOSED",
            "question_type": "PRES", "question": "Is there a mass?", "phrase_type": "freeform"}  # fmt: skip


def test_vqa_rad(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    (ds / "images" / "ok.jpg").write_bytes(INSIDE)
    _plant_links(ds / "images" / "xmlab1", outside)
    rows = [_vqa_rad_row("ok", "ok.jpg")] + [_vqa_rad_row(ref, name) for ref, name in ESCAPES.items()]
    (ds / "testset.json").write_text(json.dumps(rows))
    _assert_confined(list(get_source("vqa_rad").read(path=ds)), {"ok"}, set(ESCAPES))


def test_pathvqa(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "images" / "test").mkdir(parents=True)
    (ds / "images" / "test" / "test_0001.jpg").write_bytes(INSIDE)
    (ds / "images" / "test" / "test_0002.png").symlink_to(outside)
    ids = {"test_0001": "ok", "test_0002": "link", "x/../../../../outside/secret": "up",
           "x/../../../../outside/missing": "up-missing"}  # fmt: skip
    entries = [{"img_id": i, "sentf": {"pvqa": ["Is this normal?"]}, "labelf": {"pvqa": [{"yes": 1}]}}
               for i in ids]  # fmt: skip
    (ds / "pvqa_test.json").write_text(json.dumps(entries))
    items = list(get_source("pathvqa").read(path=ds))
    refs = {f"{img_id}-q0": name for img_id, name in ids.items()}
    for item in items:  # the refs by the names above
        if isinstance(item, Rejected):
            item.ref = refs[item.ref]
        else:
            item.source_id = refs[item.source_id]
    _assert_confined(items, {"ok"}, {"link", "up", "up-missing"})


def test_medxpertqa(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    (ds / "images" / "ok.png").write_bytes(INSIDE)
    _plant_links(ds / "images", outside)

    def row(ref, image):
        return {"id": f"MM-{ref}", "question": "Which finding?", "options": {"A": "One", "B": "Two"},
                "label": ["A"], "images": [image]}  # fmt: skip

    rows = [row("ok", {"image_path": "ok.png"}), row("up", {"image_path": "x/../../../outside/secret.png"}),
            row("up-missing", "x/../../../outside/missing.png"), row("link", "link.png"),
            row("abs", {"path": str(outside)}), row("dir", "out/secret.png")]  # fmt: skip
    (ds / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = list(get_source("medxpertqa").read(path=ds))
    for item in items:
        if isinstance(item, Rejected):
            item.ref = item.ref[3:]
        else:
            item.source_id = item.source_id[3:]
    _assert_confined(items, {"ok"}, {"up", "up-missing", "link", "abs", "dir"})


def test_pmc_vqa(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    (ds / "images" / "ok.jpg").write_bytes(INSIDE)
    (ds / "images" / "link.jpg").symlink_to(outside)
    figures = ["ok.jpg", "link.jpg", "x/../../../outside/secret.png", "x/../../../outside/missing.png"]
    with (ds / "test.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D",
                         "Answer_label"])  # fmt: skip
        for figure in figures:
            writer.writerow([figure, "Which stain?", "HE", "A:HE", "B:PAS", "C:Gram", "D:Silver", "A"])
    items = list(get_source("pmc_vqa").read(path=ds))
    assert [i.reason if isinstance(i, Rejected) else "kept" for i in items] == ["kept"] + [OUTSIDE] * 3
    assert items[0].images == [INSIDE] and not any(SECRET in getattr(i, "images", []) for i in items)


def test_headqa_never_reads_beside_the_given_folder(tmp_path, outside):
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    (ds / "images" / "ok.png").write_bytes(INSIDE)
    four = [{"aid": a, "atext": t} for a, t in enumerate(["Liver", "Spleen", "Kidney", "Heart"], start=1)]
    names = {"ok": "images/ok.png", "sibling": "outside/secret.png", "up": "x/../../outside/secret.png",
             "abs": str(outside)}  # fmt: skip
    data = [{"qid": ref, "qtext": "Which organ?", "ra": "1", "image": name, "answers": four}
            for ref, name in names.items()]  # fmt: skip
    content = {"version": "1", "language": "en", "exams": {"E": {"name": "E", "data": data}}}
    (ds / "HEAD_EN.json").write_text(json.dumps(content))
    items = list(get_source("headqa").read(path=ds))
    by_ref = _by_ref(items)
    assert by_ref["E-ok"].images == [INSIDE]
    # outside/secret.png exists beside ds, not in it: not found there (ds's parent is no image root)
    assert {ref: by_ref[f"E-{ref}"].reason for ref in ("sibling", "up", "abs")} == {
        "sibling": "missing-image", "up": OUTSIDE, "abs": OUTSIDE,
    }  # fmt: skip
    assert not any(SECRET in getattr(i, "images", []) for i in items)


def test_local_parquet_with_image_paths(tmp_path, outside):
    # MMMU's local layout is the Hub's Parquet files; an image given as a path must stay in the folder
    subjects = ["Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                "Pharmacy", "Public_Health"]  # fmt: skip
    for subject in subjects:
        (tmp_path / "ds" / subject).mkdir(parents=True)
    folder = tmp_path / "ds" / "Pharmacy"
    (folder / "ok.png").write_bytes(INSIDE)
    paths = {"ok": "ok.png", "up": "../../outside/secret.png", "abs": str(outside)}
    rows = [{"id": ref, "question": "<image 1> Which drug?", "options": "['A drug', 'B drug']", "answer": "A",
             "question_type": "multiple-choice", "image_1": {"bytes": None, "path": path}}
            for ref, path in paths.items()]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), folder / "validation-00000-of-00001.parquet")
    _assert_confined(list(get_source("mmmu_medical").read(path=tmp_path / "ds")), {"ok"}, {"up", "abs"})


def test_hub_rows_with_image_paths(tmp_path, outside):
    # A Hub copy whose image column holds paths instead of bytes: only the copy's own files are read
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "ok.png").write_bytes(INSIDE)
    paths = ["ok.png", "../outside/secret.png", str(outside)]
    rows = [{"image": {"bytes": None, "path": p}, "question": "Is there a mass?", "answer": "yes"}
            for p in paths]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), repo / "data" / "test-00000-of-00001.parquet")
    items = list(get_source("vqa_rad").read(hub=str(repo)))
    assert [i.reason if isinstance(i, Rejected) else "kept" for i in items] == ["kept", OUTSIDE, OUTSIDE]
    assert items[0].images == [INSIDE]


def test_released_row_with_an_image_path_is_refused(outside):
    from medvlt_data.released import ReleasedLayoutError, released_record

    row = {"images": [{"bytes": None, "path": str(outside)}], "question": "Which?", "options": '{"A": "x"}',
           "answer_label": "A", "answer": "x", "dataset_name": "pmc_vqa", "dataset_index": 0}  # fmt: skip
    with pytest.raises(ReleasedLayoutError, match="no dataset folder"):
        released_record(row, shard="train-00000-of-00001.parquet", is_eval=False)


# ---- end to end ------------------------------------------------------------------------------------


def test_build_counts_the_reject_and_ships_no_outside_bytes(tmp_path, outside):
    from medvlt_cli.main import cli

    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    (ds / "images" / "ok.jpg").write_bytes(INSIDE)
    (ds / "images" / "link.jpg").symlink_to(outside)
    rows = [_vqa_rad_row("ok", "ok.jpg"), _vqa_rad_row("up", "x/../../../outside/secret.png"),
            _vqa_rad_row("link", "link.jpg")]  # fmt: skip
    (ds / "testset.json").write_text(json.dumps(rows))
    out = tmp_path / "build"
    result = CliRunner().invoke(
        cli, ["data", "build", "--out", str(out), "--split", "eval", "--sources", "vqa_rad",
              "--source-path", f"vqa_rad={ds}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["drops"]["read"] == {OUTSIDE: 2}
    (counts,) = stats["sources"]
    assert (counts["read"], counts["kept"], counts["dropped"]) == (3, 1, 2)
    rejects = [json.loads(line) for f in sorted((out / "rejects").rglob("*.jsonl"))
               for line in f.read_text().splitlines() if line.strip()]  # fmt: skip
    assert sorted((r["source_id"], r["reason"]) for r in rejects) == [("link", OUTSIDE), ("up", OUTSIDE)]
    published = [p for p in out.rglob("*") if p.is_file() and ".work" not in p.relative_to(out).parts]
    shipped = b"".join(p.read_bytes() for p in published)  # what a push publishes (.work/ stays)
    assert SECRET not in shipped and str(outside).encode() not in shipped
    (row,) = pq.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    assert row["source_id"] == "ok"
    assert Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB").getpixel((0, 0)) == (10, 200, 10)
