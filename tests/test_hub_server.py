"""The loopback Hub server, exercised only through the real huggingface_hub and datasets clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard, HfApi, ModelCard, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError, RevisionNotFoundError

from tests import hub_server
from tests.hub_server import HubServer

hub = hub_server.hub  # the fixture, as other test modules use it

SECRET = "hf_test_SECRET_do_not_print"
README = "---\nlicense: apache-2.0\n---\n# Tiny QA\n"


def write_dataset_folder(folder: Path, rows: list[dict], readme: str = README) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "train-00000-of-00001.parquet")
    (folder / "README.md").write_text(readme)
    return folder


def local_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


FIRST_ROWS = [{"question": "q1", "answer": "a"}, {"question": "q2", "answer": "b"}]
SECOND_ROWS = [{"question": "q3", "answer": "c"}]


@pytest.fixture
def pushed(hub: HubServer, tmp_path: Path) -> dict:
    """A dataset repo with a first upload tagged v1.0-abc and a second upload on main."""
    api = HfApi()
    repo_id = "medvlt/tiny-qa"
    api.create_repo(repo_id, repo_type="dataset")
    first = write_dataset_folder(tmp_path / "first", FIRST_ROWS)
    first_commit = api.upload_folder(repo_id=repo_id, folder_path=first, repo_type="dataset")
    api.create_tag(repo_id, tag="v1.0-abc", revision=first_commit.oid, repo_type="dataset", tag_message="v1")
    second = write_dataset_folder(tmp_path / "second", SECOND_ROWS, README + "\nSecond version.\n")
    second_commit = api.upload_folder(repo_id=repo_id, folder_path=second, repo_type="dataset")
    return {
        "api": api,
        "repo_id": repo_id,
        "first": first,
        "second": second,
        "commits": (first_commit, second_commit),
    }


def test_create_repo_model_and_dataset_exist_ok(hub: HubServer) -> None:
    api = HfApi()
    url = huggingface_hub.create_repo("medvlt/tiny-model")  # the module-level function uses a shared HfApi
    assert url.repo_id == "medvlt/tiny-model" and url.repo_type == "model"
    dataset_url = api.create_repo("medvlt/tiny-data", repo_type="dataset")
    assert dataset_url.repo_type == "dataset"
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo("medvlt/tiny-data", repo_type="dataset")
    assert error.value.response.status_code == 409
    assert (
        api.create_repo("medvlt/tiny-data", repo_type="dataset", exist_ok=True).repo_id == "medvlt/tiny-data"
    )
    # Like the Hub, a new repo starts with one commit holding .gitattributes.
    assert list(hub.repo_files("medvlt/tiny-model", repo_type="model")) == [".gitattributes"]
    assert len(hub.commits("medvlt/tiny-data")) == 1
    assert api.whoami()["name"] == "test-user"
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="medvlt/tiny-model")
    assert Path(hf_hub_download("medvlt/tiny-model", "config.json")).read_bytes() == b"{}"
    assert [c.title for c in api.list_repo_commits("medvlt/tiny-model")] == [
        "Upload config.json with huggingface_hub",
        "initial commit",
    ]


def test_upload_tag_and_download_revisions(hub: HubServer, pushed: dict, tmp_path: Path) -> None:
    api, repo_id = pushed["api"], pushed["repo_id"]
    first_commit, second_commit = pushed["commits"]
    commits = hub.commits(repo_id)
    assert commits == [commits[0], first_commit.oid, second_commit.oid]  # one commit per upload_folder
    assert hub.repo_files(repo_id, revision="v1.0-abc") == {
        ".gitattributes": hub.repo_files(repo_id)[".gitattributes"],
        **local_files(pushed["first"]),
    }
    assert {k: v for k, v in hub.repo_files(repo_id).items() if k != ".gitattributes"} == local_files(
        pushed["second"]
    )

    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0-abc", first_commit.oid)]
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", second_commit.oid)]
    assert hub.refs(repo_id) == {
        "branches": {"main": second_commit.oid},
        "tags": {"v1.0-abc": first_commit.oid},
    }

    old = Path(snapshot_download(repo_id, repo_type="dataset", revision="v1.0-abc"))
    new = Path(snapshot_download(repo_id, repo_type="dataset", revision="main"))
    assert {k: v for k, v in local_files(old).items() if k != ".gitattributes"} == local_files(
        pushed["first"]
    )
    assert {k: v for k, v in local_files(new).items() if k != ".gitattributes"} == local_files(
        pushed["second"]
    )
    by_sha = Path(snapshot_download(repo_id, repo_type="dataset", revision=first_commit.oid))
    assert local_files(by_sha) == local_files(old)

    readme = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision="v1.0-abc")
    assert Path(readme).read_text() == README
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(repo_id, "missing.txt", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "README.md", repo_type="dataset", revision="no-such-branch")

    tree = {e.path for e in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, expand=True)}
    assert tree == {".gitattributes", "README.md", "data", "data/train-00000-of-00001.parquet"}
    infos = api.get_paths_info(
        repo_id, ["README.md", "data", "nope"], repo_type="dataset", revision="v1.0-abc"
    )
    assert [i.path for i in infos] == ["README.md", "data"]
    assert api.dataset_info(repo_id, revision="v1.0-abc").sha == first_commit.oid


def test_load_dataset_at_tag(hub: HubServer, pushed: dict) -> None:
    import datasets

    old = datasets.load_dataset(pushed["repo_id"], revision="v1.0-abc", split="train")
    assert old.to_list() == FIRST_ROWS
    new = datasets.load_dataset(pushed["repo_id"], split="train")
    assert new.to_list() == SECOND_ROWS


def test_identical_push_makes_no_commit(hub: HubServer, pushed: dict) -> None:
    api, repo_id = pushed["api"], pushed["repo_id"]
    before = hub.commits(repo_id)
    start = len(hub.requests)
    info = api.upload_folder(repo_id=repo_id, folder_path=pushed["second"], repo_type="dataset")
    assert hub.commits(repo_id) == before and info.oid == before[-1]
    assert not [r for r in hub.requests[start:] if "/commit/" in r["path"]]  # the client skipped the commit


def test_branches_and_tag_conflicts(hub: HubServer, pushed: dict) -> None:
    api, repo_id = pushed["api"], pushed["repo_id"]
    first_commit = pushed["commits"][0]
    api.create_branch(repo_id, branch="dev", revision="v1.0-abc", repo_type="dataset")
    assert hub.refs(repo_id)["branches"]["dev"] == first_commit.oid
    with pytest.raises(HfHubHTTPError) as error:
        api.create_tag(repo_id, tag="v1.0-abc", repo_type="dataset")
    assert error.value.response.status_code == 409
    api.create_tag(repo_id, tag="v1.0-abc", repo_type="dataset", exist_ok=True)
    api.delete_tag(repo_id, tag="v1.0-abc", repo_type="dataset")
    api.delete_branch(repo_id, branch="dev", repo_type="dataset")
    assert hub.refs(repo_id)["tags"] == {} and list(hub.refs(repo_id)["branches"]) == ["main"]
    api.upload_file(path_or_fileobj=b"notes", path_in_repo="notes.txt", repo_id=repo_id, repo_type="dataset")
    api.delete_file("notes.txt", repo_id=repo_id, repo_type="dataset")
    assert "notes.txt" not in hub.repo_files(repo_id)
    api.delete_folder("data", repo_id=repo_id, repo_type="dataset")
    assert list(hub.repo_files(repo_id)) == [".gitattributes", "README.md"]
    assert "data/train-00000-of-00001.parquet" in hub.repo_files(repo_id, revision=first_commit.oid)
    with pytest.raises(HfHubHTTPError) as error:
        api.upload_file(
            path_or_fileobj=b"x",
            path_in_repo="x.txt",
            repo_id=repo_id,
            repo_type="dataset",
            parent_commit="0" * 40,
        )
    assert error.value.response.status_code == 412


VALID_MODEL_CARD = """---
license: apache-2.0
model-index:
- name: tiny-vlm
  results:
  - task: {type: visual-question-answering}
    dataset: {name: VQA-RAD, type: flaviagiammarino/vqa-rad}
    metrics:
    - {type: accuracy, value: 0.61}
---
# Tiny VLM
"""


def test_validate_yaml(hub: HubServer) -> None:
    ModelCard(VALID_MODEL_CARD).validate()
    invalid = VALID_MODEL_CARD.replace("type: accuracy, value: 0.61", "type: accuracy, value: [0.61]")
    with pytest.raises(ValueError, match="value"):
        ModelCard(invalid).validate()
    with pytest.raises(ValueError, match="license"):
        ModelCard("---\nlicense: [a, b]\n---\nText\n").validate()
    DatasetCard(
        "---\nlicense: mit\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n"
    ).validate()
    with pytest.raises(ValueError, match="configs"):
        DatasetCard("---\nconfigs: just-a-string\n---\nText\n").validate()
    assert [r["status"] for r in hub.requests if r["path"] == "/api/validate-yaml"] == [
        200,
        400,
        400,
        200,
        400,
    ]


@pytest.mark.parametrize("how", ["500", "429", "drop"])
def test_retried_call_survives_fault(hub: HubServer, pushed: dict, how: str) -> None:
    api, repo_id = pushed["api"], pushed["repo_id"]
    times = 2 if how == "429" else 1  # 429 comes with Retry-After: 0, so a second one costs only 1 s
    hub.fail(1, how, times=times, path_contains="/tree/")
    start = len(hub.requests)
    files = [e.path for e in api.list_repo_tree(repo_id, repo_type="dataset")]
    assert "README.md" in files
    tree_calls = [r["status"] for r in hub.requests[start:] if "/tree/" in r["path"]]
    assert tree_calls == [{"500": 500, "429": 429, "drop": 0}[how]] * times + [200]


@pytest.mark.parametrize("how", ["500", "429"])
def test_download_head_is_retried(hub: HubServer, pushed: dict, how: str) -> None:
    hub.fail(1, how, path_contains="/resolve/")
    path = hf_hub_download(pushed["repo_id"], "README.md", repo_type="dataset")
    assert Path(path).read_text().startswith("---")
    statuses = [(r["method"], r["status"]) for r in hub.requests if "/resolve/" in r["path"]]
    assert statuses == [("HEAD", int(how)), ("HEAD", 200), ("GET", 200)]


def test_download_head_dropped_is_not_retried(hub: HubServer, pushed: dict) -> None:
    import httpx2

    hub.fail(1, "drop", path_contains="/resolve/")
    with pytest.raises(httpx2.RemoteProtocolError, match="disconnected"):
        hf_hub_download(pushed["repo_id"], "README.md", repo_type="dataset")
    assert [r["status"] for r in hub.requests if "/resolve/" in r["path"]] == [0]


def test_download_body_fault(hub: HubServer, pushed: dict) -> None:
    """The GET after a good HEAD: 429 is retried by backoff, 500 is not."""
    repo_id = pushed["repo_id"]
    hub.fail(2, "429", path_contains="/resolve/")
    hf_hub_download(repo_id, "README.md", repo_type="dataset")
    assert [r["status"] for r in hub.requests if "/resolve/" in r["path"]] == [200, 429, 200]
    hub.fail(2, "drop", path_contains="/resolve/")  # a dropped download is resumed, not failed
    hf_hub_download(repo_id, ".gitattributes", repo_type="dataset")
    assert [r["status"] for r in hub.requests if "/resolve/" in r["path"]][-3:] == [200, 0, 200]
    hub.fail(2, "500", path_contains="/resolve/")
    with pytest.raises(HfHubHTTPError) as error:
        hf_hub_download(repo_id, "data/train-00000-of-00001.parquet", repo_type="dataset")
    assert error.value.response.status_code == 500


def test_preupload_is_retried(hub: HubServer, pushed: dict) -> None:
    hub.fail(1, "500", path_contains="/preupload/")
    start = len(hub.requests)
    pushed["api"].upload_file(
        path_or_fileobj=b"n", path_in_repo="n.txt", repo_id=pushed["repo_id"], repo_type="dataset"
    )
    assert [r["status"] for r in hub.requests[start:] if "/preupload/" in r["path"]] == [500, 200]
    assert hub.repo_files(pushed["repo_id"])["n.txt"] == b"n"


def test_range_reads_through_hf_file_system(hub: HubServer, pushed: dict) -> None:
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(skip_instance_cache=True)
    with fs.open(f"datasets/{pushed['repo_id']}@v1.0-abc/README.md", "rb", block_size=4) as file:
        file.seek(4)
        assert file.read(7) == README.encode()[4:11]
    assert any(r["status"] == 206 for r in hub.requests)


@pytest.mark.parametrize("how", ["500", "429", "drop"])
def test_commit_is_not_retried(hub: HubServer, pushed: dict, how: str) -> None:
    api, repo_id = pushed["api"], pushed["repo_id"]
    before, start = hub.commits(repo_id), len(hub.requests)
    hub.fail(1, how, path_contains="/commit/")
    expected = HfHubHTTPError if how != "drop" else Exception
    with pytest.raises(expected) as error:
        api.upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id=repo_id, repo_type="dataset")
    if how == "drop":
        assert "disconnected" in str(error.value).lower()
    else:
        assert error.value.response.status_code == int(how)
    assert hub.commits(repo_id) == before
    assert [r["path"] for r in hub.requests[start:]].count(f"/api/datasets/{repo_id}/commit/main") == 1


def test_writes_need_the_server_token(tmp_path: Path, hub: HubServer) -> None:
    with HubServer(tmp_path / "locked", token="hf_the_right_token") as locked:
        api = HfApi(endpoint=locked.endpoint)
        with pytest.raises(HfHubHTTPError) as error:
            api.create_repo("medvlt/locked", repo_type="dataset")
        assert error.value.response.status_code == 401
        api.create_repo("medvlt/locked", repo_type="dataset", token="hf_the_right_token")
        with pytest.raises(HfHubHTTPError) as error:
            api.upload_file(
                path_or_fileobj=b"x", path_in_repo="x", repo_id="medvlt/locked", repo_type="dataset"
            )
        assert error.value.response.status_code == 401
        assert (
            api.list_repo_refs("medvlt/locked", repo_type="dataset", token=False).branches[0].name == "main"
        )
        assert [r["status"] for r in locked.requests] == [401, 200, 401, 200]


def test_subprocess_uses_the_server(hub: HubServer, pushed: dict) -> None:
    code = (
        "import sys; from huggingface_hub import hf_hub_download; "
        "print(open(hf_hub_download(sys.argv[1], 'README.md', repo_type='dataset', revision='v1.0-abc')).read())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, pushed["repo_id"]], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == README.strip() and SECRET not in done.stdout + done.stderr
    assert hub.requests[-1]["path"] == f"/datasets/{pushed['repo_id']}/resolve/v1.0-abc/README.md"


def test_token_never_leaks(hub: HubServer, pushed: dict) -> None:
    api = pushed["api"]
    assert os.environ["HF_TOKEN"] == SECRET
    assert all(r["authorization"] == "Bearer [redacted]" for r in hub.requests)  # the token was sent
    captured = [repr(api.dataset_info(pushed["repo_id"], files_metadata=True).__dict__)]
    with pytest.raises(HfHubHTTPError) as error:
        api.dataset_info("medvlt/missing")
    captured += [error.value.response.text, str(error.value.response.headers), str(error.value)]
    tree = api.list_repo_tree(pushed["repo_id"], repo_type="dataset", recursive=True, expand=True)
    captured += [repr(list(tree))]
    assert not [text for text in captured if SECRET in text]
    assert SECRET not in json.dumps(hub.requests)
    for path in hub.root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
