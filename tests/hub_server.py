"""A loopback Hugging Face Hub for tests: the real ``huggingface_hub`` and ``datasets`` clients talk to it.

``HubServer(root)`` serves one ``http.server.ThreadingHTTPServer`` on 127.0.0.1 from a background thread
and keeps every repo on disk under ``root/{models,datasets}/{namespace}/{name}/``: a content-addressed
blob store (``blobs/{git blob sha1}``), one JSON manifest per commit (``commits/{sha}.json``: parent,
message, ``files`` path -> {oid, size}) and ``refs.json`` (branches and tags). A commit sha is the sha1 of
(parent, manifest, message), so revisions are real: a tag keeps its commit while ``main`` moves on.

Routes (``{type}`` is ``models`` or ``datasets``; revisions are URL-decoded, 40-hex shas accepted):

- ``GET /api/whoami-v2``; ``POST /api/repos/create`` (409 when the repo exists); ``POST /api/validate-yaml``
- ``GET /api/{type}/{id}`` and ``GET /api/{type}/{id}/revision/{rev}`` (sha, siblings, cardData)
- ``POST /api/{type}/{id}/preupload/{rev}`` (always ``regular``, with the existing blob ``oid``)
- ``POST /api/{type}/{id}/commit/{rev}`` (NDJSON: header with ``parentCommit``, file, deletedFile,
  deletedFolder)
- ``GET /api/{type}/{id}/refs``; ``POST|DELETE /api/{type}/{id}/branch/{branch}``;
  ``POST /api/{type}/{id}/tag/{rev}``; ``DELETE /api/{type}/{id}/tag/{tag}``
- ``GET /api/{type}/{id}/tree/{rev}[/{path}]`` (``recursive``, ``expand``; one page, no ``Link`` header);
  ``POST /api/{type}/{id}/paths-info/{rev}`` (form or JSON); ``GET /api/{type}/{id}/commits/{rev}``
- ``GET|HEAD /{id}/resolve/{rev}/{path}`` and ``/datasets/{id}/resolve/{rev}/{path}`` (ETag, X-Repo-Commit,
  Content-Length, single ``Range``; no Xet headers, so clients download over plain HTTP)

Errors carry the Hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) and
``X-Error-Message`` headers and an ``{"error": ...}`` body. Tokens are never logged or stored:
``server.requests`` holds method, path (with query), status (0 for a dropped connection) and
``authorization`` (``"Bearer [redacted]"`` when the header was sent, else None).

What huggingface_hub 2.4 retries (``utils/_http.py``): ``http_backoff`` retries status 408, 429, 500,
502, 503, 504 and timeouts / network errors / ``RemoteProtocolError`` (a dropped connection), up to 5
times, sleeping 1 s, 2 s, 4 s, 8 s (after a 429 with ``Retry-After: N``: N + 1 s). Through it go: preupload,
``list_repo_tree`` pages (and ``paginate`` in general) and HfFileSystem range reads. ``hf_hub_download``
/ ``snapshot_download``: the HEAD is tried once without retries; after a 5xx/429 (or a connect error or
timeout) it is tried again with backoff, but a dropped connection on that HEAD (``RemoteProtocolError``)
is NOT caught and propagates. The GET of the file retries 408/429 by backoff and resumes a dropped
connection (``Range``, up to 5 times) but raises at once on 500. Calls made with a bare ``get_session()``
are NOT retried and raise on the first fault: commit from ``create_commit`` / ``upload_file`` /
``upload_folder`` without Xet, create_repo, repo_info / dataset_info, list_repo_refs, paths-info,
create/delete branch and tag, whoami and validate-yaml. With ``hf_xet`` installed and Xet not disabled,
``upload_folder`` goes through a pipelined uploader whose commit IS retried (so a lost response can
duplicate a commit); the ``hub`` fixture sets ``HF_HUB_DISABLE_XET=1``, which keeps the plain path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
USER = "test-user"
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
FAULT_STATUSES = {"500": 500, "429": 429}


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


def validate_card_metadata(content: str, repo_type: str) -> list[str]:
    """Errors in a card's YAML block, checked roughly as the Hub does (empty list: valid)."""
    match = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---[ \t]*(\r?\n|$)", content)
    if not match:
        return []
    try:
        metadata = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        return [f"Invalid YAML in metadata: {error}"]
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["Metadata must be a YAML mapping"]
    errors = []
    license_ = metadata.get("license")
    # Dataset cards may name several licenses (DatasetCardData types it str | list[str]); models one.
    several = (
        repo_type == "dataset" and isinstance(license_, list) and all(isinstance(x, str) for x in license_)
    )
    if "license" in metadata and not (isinstance(license_, str) or several):
        errors.append(
            '"license" must be a string' + (" or a list of strings" if repo_type == "dataset" else "")
        )
    if repo_type == "model" and "model-index" in metadata:
        errors += _model_index_errors(metadata["model-index"])
    if repo_type == "dataset" and "configs" in metadata:
        configs = metadata["configs"]
        if not isinstance(configs, list) or not all(
            isinstance(c, dict) and "config_name" in c for c in configs
        ):
            errors.append('"configs" must be a list of mappings with a "config_name"')
    return errors


def _model_index_errors(model_index: Any) -> list[str]:
    if not isinstance(model_index, list) or not model_index:
        return ['"model-index" must be a non-empty list']
    errors = []
    for entry in model_index:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            errors.append('"model-index[].name" is required and must be a string')
            continue
        if not isinstance(entry.get("results"), list):
            errors.append('"model-index[].results" must be a list')
            continue
        for result in entry["results"]:
            task, dataset = result.get("task"), result.get("dataset")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append('"model-index[].results[].task.type" is required and must be a string')
            if not isinstance(dataset, dict) or not all(
                isinstance(dataset.get(k), str) for k in ("name", "type")
            ):
                errors.append('"model-index[].results[].dataset" needs string "name" and "type"')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append('"model-index[].results[].metrics" must be a non-empty list')
                continue
            for metric in metrics:
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
                    errors.append('"model-index[].results[].metrics[].type" is required and must be a string')
                elif not isinstance(metric.get("value"), (int, float, str)):
                    errors.append('"model-index[].results[].metrics[].value" must be a number or a string')
    return errors


class HubServer:
    """Context manager running the loopback Hub; see the module docstring."""

    def __init__(self, root: Path, *, token: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._token = token
        self.requests: list[dict] = []
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, nth: int, how: str, times: int = 1, path_contains: str | None = None) -> None:
        """Make matching requests nth .. nth+times-1 (1-based, counted from now) fail: "500", "429", "drop"."""
        if how not in ("500", "429", "drop"):
            raise ValueError(f"unknown fault {how!r}")
        with self._lock:
            self._faults.append(
                {"first": nth, "last": nth + times - 1, "how": how, "match": path_contains, "seen": 0}
            )

    def _fault_for(self, path: str) -> str | None:
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault["match"] is None or fault["match"] in path:
                    fault["seen"] += 1
                    if chosen is None and fault["first"] <= fault["seen"] <= fault["last"]:
                        chosen = fault["how"]
            self._faults = [fault for fault in self._faults if fault["seen"] < fault["last"]]
            return chosen

    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        if repo_id.count("/") != 1 or ".." in repo_id:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return Repo(self.root / f"{repo_type}s" / repo_id)

    def _existing_repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self._repo(repo_id, repo_type)
        if not repo.exists():
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def repo_files(
        self, repo_id: str, repo_type: str = "dataset", revision: str = "main"
    ) -> dict[str, bytes]:
        repo = self._existing_repo(repo_id, repo_type)
        files = repo.commit(repo.resolve(revision))["files"]
        return {path: repo.blob(info["oid"]) for path, info in sorted(files.items())}

    def refs(self, repo_id: str, repo_type: str = "dataset") -> dict:
        return self._existing_repo(repo_id, repo_type).read_refs()

    def commits(self, repo_id: str, repo_type: str = "dataset") -> list[str]:
        repo = self._existing_repo(repo_id, repo_type)
        return [sha for sha, _ in repo.history(repo.resolve("main"))][::-1]

    def check_write(self, authorization: str | None) -> None:
        if self._token is not None and authorization != f"Bearer {self._token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    # ---- route handlers: each returns (status, JSON-able body) or raises HubError ----

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


def _make_handler(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def handle_request(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fault = server._fault_for(self.path)
            if fault == "drop":
                self.log_request_entry(0)
                self.close_connection = True
                return
            if fault is not None:
                status = FAULT_STATUSES[fault]
                error = HubError(status, "Injected fault")
                return self.send_error_answer(error, {"Retry-After": "0"} if status == 429 else {})
            try:
                self.route(raw)
            except HubError as error:
                self.send_error_answer(error)
            except Exception as error:  # a server bug: answer 500 rather than hang the client
                self.send_error_answer(HubError(500, f"Internal error: {type(error).__name__}"))

        do_GET = do_HEAD = do_POST = do_DELETE = handle_request

        def log_request_entry(self, status: int) -> None:
            scheme = (self.headers.get("Authorization") or "").split(" ")[0]
            redacted = f"{scheme} [redacted]" if scheme else None
            entry = {"method": self.command, "path": self.path, "status": status, "authorization": redacted}
            server.requests.append(entry)

        def send_error_answer(self, error: HubError, extra: dict[str, str] | None = None) -> None:
            headers = {"X-Error-Message": error.message, **(extra or {})}
            if error.code:
                headers["X-Error-Code"] = error.code
            self.answer(error.status, {"error": error.message, **error.body}, headers)

        def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.log_request_entry(status)
            self.send_response(status)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
            headers.setdefault("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def body_fields(self, raw: bytes) -> dict[str, Any]:
            if "json" in (self.headers.get("Content-Type") or "") or raw.startswith(b"{"):
                return json.loads(raw or b"{}")
            form = parse_qs(raw.decode())
            return {key: values if key == "paths" else values[0] for key, values in form.items()}

        def route(self, raw: bytes) -> None:
            url = urlsplit(self.path)
            parts = [unquote(part) for part in url.path.strip("/").split("/")]
            query = parse_qs(url.query)
            method = self.command
            if parts[:1] == ["api"]:
                return self.route_api(method, parts[1:], query, raw)
            if len(parts) >= 5 and parts[0] == "datasets" and parts[3] == "resolve":
                return self.resolve("dataset", "/".join(parts[1:3]), parts[4], "/".join(parts[5:]))
            if len(parts) >= 4 and parts[2] == "resolve":
                return self.resolve("model", "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            raise HubError(404, "Not found")

        def route_api(self, method: str, parts: list[str], query: dict[str, list[str]], raw: bytes) -> None:
            authorization = self.headers.get("Authorization")
            if parts == ["whoami-v2"]:
                if not authorization:
                    raise HubError(401, "Invalid credentials in Authorization header")
                return self.answer(200, {"type": "user", "name": USER, "fullname": "Test User", "orgs": []})
            if parts == ["validate-yaml"] and method == "POST":
                body = json.loads(raw or b"{}")
                errors = validate_card_metadata(body.get("content", ""), body.get("repoType") or "model")
                if "text/plain" in (self.headers.get("Accept") or ""):
                    text = "\n".join(errors) or "OK"
                    return self.answer(400 if errors else 200, text.encode(), {"Content-Type": "text/plain"})
                return self.answer(400 if errors else 200, {"errors": [{"message": e} for e in errors]})
            if parts == ["repos", "create"] and method == "POST":
                server.check_write(authorization)
                return self.answer(*server.create_repo(json.loads(raw or b"{}")))
            if len(parts) < 3 or parts[0] not in ("models", "datasets"):
                raise HubError(404, "Not found")
            repo_type, repo_id, rest = parts[0][:-1], "/".join(parts[1:3]), parts[3:]
            url_prefix = "" if repo_type == "model" else "datasets/"
            repo = server._existing_repo(repo_id, repo_type)
            action, args = (rest[0], rest[1:]) if rest else ("", [])
            if method in ("POST", "DELETE"):
                server.check_write(authorization)
            if method == "GET" and action == "":
                return self.answer(*server.repo_info(repo, repo_id, "main", query))
            if method == "GET" and action == "revision" and args:
                return self.answer(*server.repo_info(repo, repo_id, "/".join(args), query))
            if method == "POST" and action == "preupload" and args:
                return self.answer(*server.preupload(repo, args[0], json.loads(raw or b"{}")))
            if method == "POST" and action == "commit" and args:
                return self.answer(*server.commit(repo, repo_id, url_prefix, args[0], raw))
            if method == "GET" and action == "refs":
                return self.answer(*server.list_refs(repo, query))
            if action in ("branch", "tag") and args and method in ("POST", "DELETE"):
                body = json.loads(raw or b"{}")
                return self.answer(*server.change_ref(repo, method, action, "/".join(args), body))
            if method == "GET" and action == "tree" and args:
                return self.answer(*server.tree(repo, args[0], "/".join(args[1:]).strip("/"), query))
            if method == "POST" and action == "paths-info" and args:
                return self.answer(*server.paths_info(repo, args[0], self.body_fields(raw)))
            if method == "GET" and action == "commits" and args:
                return self.answer(*server.list_commits(repo, args[0]))
            raise HubError(404, "Not found")

        def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
            if self.command not in ("GET", "HEAD"):
                raise HubError(405, "Method not allowed")
            repo = server._existing_repo(repo_id, repo_type)
            sha = repo.resolve(revision)
            files = repo.commit(sha)["files"]
            if path not in files:
                error = HubError(404, "Entry not found", "EntryNotFound")
                return self.send_error_answer(error, {"X-Repo-Commit": sha})
            oid, data = files[path]["oid"], repo.blob(files[path]["oid"])
            headers = {"ETag": f'"{oid}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
            headers["Content-Type"] = "application/octet-stream"
            status = 200
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
            if match and (match.group(1) or match.group(2)):
                start = int(match.group(1) or 0)
                end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                if start >= len(data):
                    raise HubError(416, "Range not satisfiable")
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start : end + 1], 206
            self.answer(status, data, headers)

    return Handler


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A running HubServer with the in-process clients and subprocess environment pointed at it."""
    import datasets.config
    import huggingface_hub.constants as hf_constants
    import huggingface_hub.hf_api as hf_api
    from huggingface_hub.utils import _cache_manager, _http

    home = tmp_path / "hf_home"
    with HubServer(tmp_path / "hub_server") as server:
        endpoint = server.endpoint
        environment = {
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HF_DATASETS_CACHE": str(home / "datasets"),
            "HF_TOKEN": "hf_test_SECRET_do_not_print",
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_TOKEN_PATH": str(home / "token"),
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        constants = {
            "ENDPOINT": endpoint,
            "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HUGGINGFACE_HUB_CACHE": str(home / "hub"),
            "HF_ASSETS_CACHE": str(home / "assets"),
            "HF_XET_CACHE": str(home / "xet"),
            "HF_TOKEN_PATH": str(home / "token"),
            "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
            "HF_HUB_OFFLINE": False,
            "HF_HUB_DISABLE_XET": True,
            "HF_HUB_DISABLE_TELEMETRY": True,
        }
        for name, value in constants.items():
            monkeypatch.setattr(hf_constants, name, value)
        monkeypatch.setattr(hf_api.api, "endpoint", endpoint)  # behind huggingface_hub.create_repo & co.
        monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(home / "hub"))
        datasets_config = {
            "HF_ENDPOINT": endpoint,
            "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_CACHE_HOME": str(home),
            "HF_DATASETS_CACHE": home / "datasets",
            "HF_MODULES_CACHE": home / "modules",
            "DOWNLOADED_DATASETS_PATH": home / "datasets" / "downloads",
            "EXTRACTED_DATASETS_PATH": home / "datasets" / "downloads" / "extracted",
        }
        for name, value in datasets_config.items():
            monkeypatch.setattr(datasets.config, name, value)
        _http.close_session()  # drop pooled connections to earlier servers
        yield server
        _http.close_session()
