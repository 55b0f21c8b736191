"""The loopback Hub's storage and the operations its API answers, without HTTP.

Every repo lives on disk under ``root/{models,datasets}/{namespace}/{name}/``: a content-addressed blob
store (``blobs/{git blob sha1}``), one JSON manifest per commit (``commits/{sha}.json``: parent, message,
``files`` path -> {oid, size}) and ``refs.json`` (branches and tags). A commit sha is the sha1 of (parent,
manifest, message), so revisions are real: a tag keeps its commit while ``main`` moves on.

:class:`HubStore`'s operations each return ``(status, JSON-able body)`` as the Hub's API answers, or raise
:class:`HubError`; :mod:`tests.hub_server.server` routes HTTP requests to them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
USER = "test-user"
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


class HubError(Exception):
    """An HTTP error answer: status, Hub error code (X-Error-Code) and message."""

    def __init__(self, status: int, message: str, code: str | None = None, **body: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Repo:
    """One repo on disk: blobs, commit manifests and refs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def refs_file(self) -> Path:
        return self.folder / "refs.json"

    def exists(self) -> bool:
        return self.refs_file.exists()

    def read_refs(self) -> dict[str, dict[str, str]]:
        return json.loads(self.refs_file.read_text())

    def write_refs(self, refs: dict[str, dict[str, str]]) -> None:
        self.refs_file.write_text(json.dumps(refs, indent=1, sort_keys=True))

    def commit(self, sha: str) -> dict[str, Any]:
        return json.loads((self.folder / "commits" / f"{sha}.json").read_text())

    def blob(self, oid: str) -> bytes:
        return (self.folder / "blobs" / oid).read_bytes()

    def store_blob(self, data: bytes) -> dict[str, Any]:
        oid = git_blob_sha(data)
        path = self.folder / "blobs" / oid
        if not path.exists():
            path.write_bytes(data)
        return {"oid": oid, "size": len(data)}

    def create(self) -> str:
        (self.folder / "blobs").mkdir(parents=True)
        (self.folder / "commits").mkdir()
        self.write_refs({"branches": {}, "tags": {}})
        files = {".gitattributes": self.store_blob(GITATTRIBUTES)}
        sha = self.write_commit(None, files, "initial commit")
        self.write_refs({"branches": {"main": sha}, "tags": {}})
        return sha

    def write_commit(self, parent: str | None, files: dict[str, Any], message: str) -> str:
        identity = json.dumps({"parent": parent, "files": files, "message": message}, sort_keys=True)
        sha = hashlib.sha1(identity.encode()).hexdigest()
        record = {"parent": parent, "files": files, "message": message, "date": _now()}
        (self.folder / "commits" / f"{sha}.json").write_text(json.dumps(record, indent=1, sort_keys=True))
        return sha

    def resolve(self, revision: str) -> str:
        """Commit sha of a branch, tag or full commit sha (``refs/heads/x`` and ``refs/tags/x`` too)."""
        refs = self.read_refs()
        name = re.sub(r"^refs/(heads|tags)/", "", revision)
        if name in refs["branches"]:
            return refs["branches"][name]
        if name in refs["tags"]:
            return refs["tags"][name]
        if COMMIT_SHA.match(revision) and (self.folder / "commits" / f"{revision}.json").exists():
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def history(self, sha: str) -> Iterator[tuple[str, dict[str, Any]]]:
        current: str | None = sha
        while current is not None:
            record = self.commit(current)
            yield current, record
            current = record["parent"]


def _folder_oid(files: dict[str, Any], folder: str) -> str:
    prefix = folder + "/"
    listing = sorted((path, info["oid"]) for path, info in files.items() if path.startswith(prefix))
    return hashlib.sha1(json.dumps(listing).encode()).hexdigest()


def _folders(files: dict[str, Any]) -> set[str]:
    return {path.rsplit("/", i)[0] for path in files for i in range(1, path.count("/") + 1)}


class HubStore:
    """The repos under ``root`` and the Hub API's operations on them; ``endpoint`` goes into the URLs
    the answers carry."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint
        self._lock = threading.RLock()

    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        if repo_id.count("/") != 1 or ".." in repo_id:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return Repo(self.root / f"{repo_type}s" / repo_id)

    def existing_repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self._repo(repo_id, repo_type)
        if not repo.exists():
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def repo_files(
        self, repo_id: str, repo_type: str = "dataset", revision: str = "main"
    ) -> dict[str, bytes]:
        repo = self.existing_repo(repo_id, repo_type)
        files = repo.commit(repo.resolve(revision))["files"]
        return {path: repo.blob(info["oid"]) for path, info in sorted(files.items())}

    def refs(self, repo_id: str, repo_type: str = "dataset") -> dict:
        return self.existing_repo(repo_id, repo_type).read_refs()

    def commits(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        repo = self.existing_repo(repo_id, repo_type)
        return [sha for sha, _ in repo.history(repo.resolve("main"))][::-1]

    # ---- operations: each returns (status, JSON-able body) or raises HubError ----

    def create_repo(self, body: dict[str, Any]) -> tuple[int, Any]:
        repo_type = body.get("type") or "model"
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        repo = self._repo(repo_id, repo_type)
        url = f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        with self._lock:
            if repo.exists():
                raise HubError(409, f"You already created this {repo_type} repo", url=url)
            repo.create()
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def repo_info(
        self, repo: Repo, repo_id: str, revision: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        sha = repo.resolve(revision)
        record = repo.commit(sha)
        with_blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = [
            {"rfilename": path, **({"size": info["size"], "blobId": info["oid"]} if with_blobs else {})}
            for path, info in sorted(record["files"].items())
        ]
        card_data = None
        if "README.md" in record["files"]:
            text = repo.blob(record["files"]["README.md"]["oid"]).decode("utf-8", "replace")
            match = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---", text)
            loaded = yaml.safe_load(match.group(1)) if match else None
            card_data = loaded if isinstance(loaded, dict) else None
        info = {"_id": sha[:24], "id": repo_id, "author": repo_id.split("/")[0], "sha": sha, "private": False}
        info.update({"disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": []})
        info.update({"lastModified": record["date"], "createdAt": record["date"], "siblings": siblings})
        if card_data is not None:
            info["cardData"] = card_data
        return 200, info

    def preupload(self, repo: Repo, revision: str, body: dict[str, Any]) -> tuple[int, Any]:
        files = repo.commit(repo.resolve(revision))["files"]
        answer = []
        for item in body.get("files", []):
            existing = files.get(item["path"])
            entry = {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False}
            answer.append({**entry, "oid": existing["oid"]} if existing else entry)
        return 200, {"files": answer, "commitOid": repo.resolve(revision)}

    def commit(self, repo: Repo, repo_id: str, url_prefix: str, revision: str, raw: bytes) -> tuple[int, Any]:
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        header = lines[0]["value"]
        with self._lock:
            refs = repo.read_refs()
            if revision not in refs["branches"]:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            head = refs["branches"][revision]
            if header.get("parentCommit") not in (None, head):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commit(head)["files"])
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"].strip("/")
                if key == "file":
                    files[path] = repo.store_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    inside = [name for name in files if name.startswith(path + "/")]
                    if not inside:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for name in inside:
                        del files[name]
                else:
                    raise HubError(400, f"Unsupported commit operation: {key}")
            message = header.get("summary", "") + (
                "\n\n" + header["description"] if header.get("description") else ""
            )
            sha = repo.write_commit(head, files, message)
            refs["branches"][revision] = sha
            repo.write_refs(refs)
        commit_url = f"{self.endpoint}/{url_prefix}{repo_id}/commit/{sha}"
        return 200, {
            "success": True,
            "commitOid": sha,
            "commitUrl": commit_url,
            "hookOutput": "",
            "pullRequestUrl": None,
        }

    def list_refs(self, repo: Repo, query: dict[str, list[str]]) -> tuple[int, Any]:
        refs = repo.read_refs()

        def listing(kind: str, prefix: str) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": f"{prefix}{n}", "targetCommit": s} for n, s in sorted(refs[kind].items())
            ]

        answer: dict[str, Any] = {"branches": listing("branches", "refs/heads/"), "converts": []}
        answer["tags"] = listing("tags", "refs/tags/")
        if query.get("include_prs"):
            answer["pullRequests"] = []
        return 200, answer

    def change_ref(
        self, repo: Repo, method: str, kind: str, name: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        with self._lock:
            refs = repo.read_refs()
            if method == "DELETE":
                store = refs["branches" if kind == "branch" else "tags"]
                if kind == "branch" and name == "main":
                    raise HubError(403, "Cannot delete the main branch")
                if store.pop(name, None) is None:
                    raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            elif kind == "branch":
                if name in refs["branches"]:
                    raise HubError(409, f"Branch {name} already exists")
                refs["branches"][name] = repo.resolve(body.get("startingPoint") or "main")
            else:
                tag = body["tag"]
                if tag in refs["tags"]:
                    raise HubError(409, f"Tag {tag} already exists")
                refs["tags"][tag] = repo.resolve(name)
            repo.write_refs(refs)
        return 200, {}

    def _entry(self, repo: Repo, sha: str, files: dict[str, Any], path: str, expand: bool) -> dict[str, Any]:
        if path in files:
            entry = {"type": "file", "oid": files[path]["oid"], "size": files[path]["size"], "path": path}
        else:
            entry = {"type": "directory", "oid": _folder_oid(files, path), "size": 0, "path": path}
        if expand:
            entry["lastCommit"] = self._last_commit(repo, sha, path, entry["oid"])
        return entry

    def _last_commit(self, repo: Repo, sha: str, path: str, oid: str) -> dict[str, str]:
        """The oldest commit of the unbroken run, from ``sha`` back, where ``path`` had ``oid``."""
        last = (sha, repo.commit(sha))
        for commit_sha, record in repo.history(sha):
            files = record["files"]
            current = files[path]["oid"] if path in files else _folder_oid(files, path)
            if current != oid:
                break
            last = (commit_sha, record)
        return {"id": last[0], "title": last[1]["message"].split("\n")[0], "date": last[1]["date"]}

    def tree(self, repo: Repo, revision: str, folder: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        sha = repo.resolve(revision)
        files = repo.commit(sha)["files"]
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expand = query.get("expand", ["false"])[0].lower() == "true"
        folders = _folders(files)
        if folder and folder not in folders:
            raise HubError(404, f"Entry not found: {folder}", "EntryNotFound")
        prefix = folder + "/" if folder else ""
        paths = [p for p in sorted(folders | set(files)) if p.startswith(prefix)]
        if not recursive:
            paths = [p for p in paths if "/" not in p[len(prefix) :]]
        paths.sort(key=lambda p: (p not in folders, p))
        return 200, [self._entry(repo, sha, files, path, expand) for path in paths]

    def paths_info(self, repo: Repo, revision: str, body: dict[str, Any]) -> tuple[int, Any]:
        sha = repo.resolve(revision)
        files = repo.commit(sha)["files"]
        known = set(files) | _folders(files)
        expand = str(body.get("expand", "false")).lower() == "true"
        paths = [p.strip("/") for p in body.get("paths", [])]
        return 200, [self._entry(repo, sha, files, path, expand) for path in paths if path in known]

    def list_commits(self, repo: Repo, revision: str) -> tuple[int, Any]:
        history = repo.history(repo.resolve(revision))
        return 200, [
            {"id": sha, "title": r["message"].split("\n")[0], "message": r["message"], "date": r["date"]}
            | {"authors": [{"user": USER}]}
            for sha, r in history
        ]
