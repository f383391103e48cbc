"""A fake Hugging Face Hub, just large enough for the real `huggingface_hub` client (2.4.0) to talk to it.

Tests point HF_ENDPOINT at it (see conftest.py), so the project's Hub code runs end to end on loopback.

Model repos only. Each repo is a list of commits; each commit is a full snapshot of its files.
Branch "main" points at the newest commit; a revision is a branch name or a full 40-hex commit sha.
A new repo starts with one empty commit ("initial commit"), like a real repo starts with one, so
that "main" always resolves. File bytes live on disk under `root` (one file per stored version);
metadata lives in memory.

Uploads: the preupload endpoint always answers `uploadMode: "regular"`, so the client sends every
file inline (base64) in the commit payload and never takes its LFS or Xet path. The client decides
nothing by size or extension: the server's answer is all that counts.

Auth: any token, or none, is accepted; `private` is stored and reported but not enforced.
"""

import base64
import hashlib
import json
import re
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
# Path segments that follow a repo id in API urls (so "a/b/tree/..." is repo "a/b", "a/tree/..." is repo "a").
_ACTIONS = {"revision", "tree", "commits", "preupload", "commit", "resolve"}
USER = "test-user"


class HubError(Exception):
    """An error answered the way the Hub does: the client maps `X-Error-Code` to its exception classes."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = {"error": message, **extra}


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob: what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    # The one date format huggingface_hub's `parse_datetime` accepts.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _File:
    oid: str  # git blob sha of the bytes as committed; kept when the bytes get corrupted
    size: int
    blob: Path  # where the bytes are; never shared between commits once written


@dataclass
class _Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, _File]


@dataclass
class _Repo:
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, _Commit] = field(default_factory=dict)  # insertion order = oldest first
    branches: dict[str, str] = field(default_factory=dict)


class FakeHub:
    def __init__(self, port: int, root: Path):
        self.port = port
        self.root = Path(root)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeHub":
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    # ------------------------------------------------------------------ helpers for tests

    def commits(self, repo_id: str) -> list[str]:
        """Commit shas of a repo, oldest first (the first one is the empty "initial commit")."""
        with self._lock:
            return list(self._repo(repo_id).commits)

    def corrupt_file(self, repo_id: str, filename: str, revision: str = "main") -> None:
        """Replace a stored file's bytes with garbage of the same length, in that one commit only.

        Its metadata (oid, ETag, size) is left as committed, as with damaged storage: a client that
        checks the bytes against the Hub's oid (e.g. `HfApi.verify_repo_checksums`) sees the mismatch.
        """
        with self._lock:
            commit = self._resolve(self._repo(repo_id), revision)
            stored = self._file(commit, filename)
            data = stored.blob.read_bytes()
            garbage = bytes(b ^ 0xFF for b in data) if data else b"garbage"
            commit.files[filename] = _File(stored.oid, stored.size, self._store_blob(garbage))

    def seed(self, repo_id: str, files: dict[str, bytes], message: str = "seed", private: bool = False) -> str:
        """Create the repo if needed and commit `files` to main without going through HTTP. Returns the sha."""
        with self._lock:
            repo = self._repos.get(repo_id) or self._create_repo(repo_id, private)
            return self._new_commit(repo, "main", message, "", upserts=files).sha

    # ------------------------------------------------------------------ storage

    def _repo(self, repo_id: str) -> _Repo:
        repo = self._repos.get(repo_id)
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _resolve(self, repo: _Repo, revision: str) -> _Commit:
        sha = repo.branches.get(revision) or (revision if _COMMIT_SHA.fullmatch(revision) else None)
        if sha not in repo.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[sha]

    @staticmethod
    def _file(commit: _Commit, filename: str) -> _File:
        stored = commit.files.get(filename)
        if stored is None:
            # The Hub tells which commit it looked in: the client caches the file's absence under it.
            raise HubError(404, f"Entry not found: {filename}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        return stored

    def _store_blob(self, data: bytes) -> Path:
        path = self.root / "blobs" / uuid.uuid4().hex
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def _create_repo(self, repo_id: str, private: bool) -> _Repo:
        repo = _Repo(repo_id, private, _now())
        self._repos[repo_id] = repo
        self._new_commit(repo, "main", "initial commit", "")
        return repo

    def _new_commit(
        self,
        repo: _Repo,
        branch: str,
        title: str,
        message: str,
        upserts: dict[str, bytes] | None = None,
        deletions: list[str] | None = None,
    ) -> _Commit:
        parent = repo.commits.get(repo.branches.get(branch, ""))
        files = dict(parent.files) if parent else {}
        for path in deletions or []:
            if path.endswith("/"):  # a folder: everything under it
                files = {name: f for name, f in files.items() if not name.startswith(path)}
            elif files.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        for path, data in (upserts or {}).items():
            files[path] = _File(git_blob_sha(data), len(data), self._store_blob(data))
        # 40 hex like a git commit id; the uuid keeps two commits of identical content distinct.
        tree = "\n".join(f"{name} {f.oid}" for name, f in sorted(files.items()))
        sha = hashlib.sha1(f"{parent.sha if parent else ''}\n{title}\n{tree}\n{uuid.uuid4()}".encode()).hexdigest()
        commit = _Commit(sha, parent.sha if parent else None, title, message, _now(), files)
        repo.commits[sha] = commit
        repo.branches[branch] = sha
        return commit

    # ------------------------------------------------------------------ routing

    def _route(self, method: str, segments: list[str], query: dict, body: bytes) -> tuple:
        """Return (status, headers, payload); payload is bytes, or anything JSON-serialisable."""
        with self._lock:
            if segments[:1] == ["api"]:
                return self._route_api(method, segments[1:], query, body)
            # File downloads: /{repo_id}/resolve/{revision}/{filename}
            for n in (2, 1):
                if len(segments) > n + 2 and segments[n] == "resolve" and method in ("GET", "HEAD"):
                    return self._resolve_file("/".join(segments[:n]), segments[n + 1], "/".join(segments[n + 2 :]))
            raise HubError(404, f"No such route: {method} /{'/'.join(segments)}")

    def _route_api(self, method: str, segments: list[str], query: dict, body: bytes) -> tuple:
        if method == "POST" and segments == ["repos", "create"]:
            return self._api_create_repo(json.loads(body or b"{}"))
        if method == "DELETE" and segments == ["repos", "delete"]:
            payload = json.loads(body or b"{}")
            repo_id = "/".join(p for p in (payload.get("organization"), payload["name"]) if p)
            self._repo(repo_id)
            del self._repos[repo_id]
            return 200, {}, {}
        if method == "POST" and segments == ["validate-yaml"]:  # README.md metadata check before uploads
            return 200, {}, {"errors": [], "warnings": []}
        if method == "GET" and segments == ["whoami-v2"]:
            return 200, {}, {"type": "user", "name": USER, "fullname": USER, "orgs": [], "auth": {}}
        if segments[:1] != ["models"] or len(segments) < 2:
            raise HubError(404, f"No such route: {method} /api/{'/'.join(segments)}")

        rest = segments[1:]
        n = 2 if len(rest) >= 2 and rest[1] not in _ACTIONS else 1
        repo = self._repo("/".join(rest[:n]))
        action, args = (rest[n], rest[n + 1 :]) if len(rest) > n else (None, [])

        if method == "GET" and action is None:
            return 200, {}, self._model_info(repo, self._resolve(repo, "main"))
        if method == "GET" and action == "revision" and len(args) == 1:
            return 200, {}, self._model_info(repo, self._resolve(repo, args[0]))
        if method == "GET" and action == "tree" and args:
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            return 200, {}, self._tree(self._resolve(repo, args[0]), "/".join(args[1:]), recursive)
        if method == "GET" and action == "commits" and len(args) == 1:
            return 200, {}, self._history(repo, self._resolve(repo, args[0]))
        if method == "POST" and action == "preupload" and len(args) == 1:
            return 200, {}, self._preupload(repo, args[0], query, json.loads(body or b"{}"))
        if method == "POST" and action == "commit" and len(args) == 1:
            return 200, {}, self._commit(repo, args[0], query, body)
        raise HubError(404, f"No such route: {method} /api/models/{'/'.join(rest)}")

    # ------------------------------------------------------------------ endpoints

    def _api_create_repo(self, payload: dict) -> tuple:
        if payload.get("type", "model") != "model":
            raise HubError(400, "The fake Hub serves model repos only")
        repo_id = "/".join(p for p in (payload.get("organization"), payload["name"]) if p)
        url = f"{self.url}/{repo_id}"
        if repo_id in self._repos:
            # 409 is what `create_repo(exist_ok=True)` swallows; it then reads the url from the body.
            raise HubError(409, "You already created this model repo", url=url)
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self._create_repo(repo_id, private)
        return 200, {}, {"url": url, "name": repo_id, "id": repo_id}

    def _model_info(self, repo: _Repo, commit: _Commit) -> dict:
        return {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else USER,
            "sha": commit.sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "createdAt": repo.created_at,
            "lastModified": commit.date,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [
                {"rfilename": name, "size": f.size, "blobId": f.oid} for name, f in sorted(commit.files.items())
            ],
        }

    def _tree(self, commit: _Commit, path: str, recursive: bool) -> list[dict]:
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        if path and path in commit.files:
            raise HubError(404, f"{path} is a file, not a folder", "EntryNotFound")
        folders: set[str] = set()
        files: list[dict] = []
        for name, f in sorted(commit.files.items()):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("/")
            if not recursive and len(parts) > 1:
                folders.add(prefix + parts[0])
                continue
            folders.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
            files.append({"type": "file", "path": name, "oid": f.oid, "size": f.size})
        if path and not files and not folders:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        # A folder's oid only needs to be stable and 40-hex here.
        dirs = [
            {"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest(), "size": 0}
            for p in sorted(folders)
        ]
        return dirs + files

    def _history(self, repo: _Repo, commit: _Commit | None) -> list[dict]:
        history = []  # newest first, as the Hub lists them
        while commit is not None:
            history.append(
                {
                    "id": commit.sha,
                    "title": commit.title,
                    "message": commit.message,
                    "date": commit.date,
                    "authors": [{"user": USER}],
                }
            )
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return history

    def _preupload(self, repo: _Repo, revision: str, query: dict, payload: dict) -> dict:
        if query.get("create_pr"):
            raise HubError(400, "The fake Hub does not support pull requests")
        commit = self._resolve(repo, revision)
        # "regular" for every file keeps the client off LFS and Xet; the oid of the file already
        # there lets it drop unchanged files (and skip an empty commit) the way it does on the Hub.
        return {
            "files": [
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": commit.files[f["path"]].oid if f["path"] in commit.files else None,
                }
                for f in payload.get("files", [])
            ]
        }

    def _commit(self, repo: _Repo, revision: str, query: dict, body: bytes) -> dict:
        if query.get("create_pr"):
            raise HubError(400, "The fake Hub does not support pull requests")
        if revision not in repo.branches:
            self._resolve(repo, revision)  # raises RevisionNotFound for unknown revisions
            raise HubError(400, f"Can only commit to a branch, not to {revision}")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "Commit payload must start with a header line")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and not repo.branches[revision].startswith(parent):
            raise HubError(412, f"Parent commit {parent} is not the head of {revision}")
        upserts: dict[str, bytes] = {}
        deletions: list[str] = []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                upserts[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                deletions.append(value["path"])
            elif key == "deletedFolder":
                deletions.append(value["path"].rstrip("/") + "/")
            elif key == "lfsFile":
                raise HubError(400, "The fake Hub stores no LFS files: its preupload answers 'regular' only")
            else:
                raise HubError(400, f"Unknown commit operation: {key}")
        commit = self._new_commit(repo, revision, header["summary"], header.get("description", ""), upserts, deletions)
        return {
            "success": True,
            "commitOid": commit.sha,
            "commitUrl": f"{self.url}/{repo.repo_id}/commit/{commit.sha}",
            "pullRequestUrl": None,
        }

    def _resolve_file(self, repo_id: str, revision: str, filename: str) -> tuple:
        commit = self._resolve(self._repo(repo_id), revision)
        stored = self._file(commit, filename)
        data = stored.blob.read_bytes()
        # X-Repo-Commit and ETag are what the client caches by (snapshots/<commit>, blobs/<etag>).
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{stored.oid}"',
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every answer carries a Content-Length

    def log_message(self, format, *args):  # quiet test output
        pass

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _dispatch(self):
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        hub.requests.append((self.command, url.path))
        # Split before unquoting: revisions arrive with "/" quoted as %2F and must stay one segment.
        segments = [unquote(s) for s in url.path.strip("/").split("/")]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, headers, payload = hub._route(self.command, segments, parse_qs(url.query), body)
        except HubError as e:
            status, payload = e.status, e.body
            # Header values must be latin-1: escape anything else (e.g. a unicode filename).
            headers = {**e.headers, "X-Error-Message": e.message.encode("ascii", "backslashreplace").decode()}
            if e.code:
                headers["X-Error-Code"] = e.code
        except Exception as e:
            # Not a 5xx: the client retries those with back-off for ~20 s; fail the test fast instead.
            traceback.print_exc()
            message = f"FakeHub bug: {e!r}".encode("ascii", "backslashreplace").decode()
            status, headers, payload = 400, {"X-Error-Message": message}, {"error": message}
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
