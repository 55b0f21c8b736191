"""A loopback Hugging Face Hub for tests: the real ``huggingface_hub`` and ``datasets`` clients talk to it.

``HubServer(root)`` is a :class:`~tests.hub_server.storage.HubStore` (repos on disk, real commits, refs
and tags) served by one ``http.server.ThreadingHTTPServer`` on 127.0.0.1 from a background thread.

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

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.hub_server.cards import validate_card_metadata
from tests.hub_server.storage import USER, HubError, HubStore

FAULT_STATUSES = {"500": 500, "429": 429}


class HubServer(HubStore):
    """Context manager running the loopback Hub; see the module docstring."""

    def __init__(self, root: Path, *, token: str | None = None) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        super().__init__(root, endpoint=f"http://127.0.0.1:{self._httpd.server_address[1]}")
        self._token = token
        self.requests: list[dict] = []
        self._faults: list[dict[str, Any]] = []
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

    def check_write(self, authorization: str | None) -> None:
        if self._token is not None and authorization != f"Bearer {self._token}":
            raise HubError(401, "Invalid credentials in Authorization header")


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
            repo = server.existing_repo(repo_id, repo_type)
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
            repo = server.existing_repo(repo_id, repo_type)
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
