"""The fake Hub (tests/hub_server.py), exercised only through the real huggingface_hub API."""

import os
import subprocess
import sys
import uuid

import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

api = HfApi()


@pytest.fixture
def repo_id(hub):
    """A fresh, empty repo on the fake Hub."""
    repo_id = f"test-user/hubtest-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, exist_ok=True)
    return repo_id


@pytest.fixture
def folder(tmp_path):
    """A folder to upload, with a multi-MB .safetensors file (the kind the Hub would put in LFS/Xet)."""
    root = tmp_path / "upload"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"variant": "dcgan"}')
    (root / "weights.safetensors").write_bytes(os.urandom(3 * 1024 * 1024))
    (root / "sub" / "notes.txt").write_text("nested")
    return root


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_create_repo_accepts_exist_ok_private_and_any_token(hub):
    repo_id = f"test-user/private-{uuid.uuid4().hex[:8]}"
    url = api.create_repo(repo_id, private=True, token="test-token")
    assert url.repo_id == repo_id
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id  # no token at all
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(repo_id)
    assert error.value.response.status_code == 409
    info = api.model_info(repo_id)
    assert info.private is True
    assert info.sha == hub.commits(repo_id)[-1]  # a new repo has its initial commit, like on the Hub


def test_upload_folder_is_all_regular_and_downloads_back(hub, repo_id, folder):
    before = len(hub.requests)
    info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Add weights")
    assert info.oid == hub.commits(repo_id)[-1]
    assert info.commit_url.endswith(f"/{repo_id}/commit/{info.oid}")
    # Content went inline in the commit: no LFS batch, no Xet token, no upload url.
    paths = [path for _, path in hub.requests[before:]]
    assert not [p for p in paths if "lfs" in p or "xet" in p or "upload" in p.split("/")[-1]]
    assert ("POST", f"/api/models/{repo_id}/commit/main") in hub.requests[before:]

    assert sorted(api.list_repo_files(repo_id)) == ["config.json", "sub/notes.txt", "weights.safetensors"]
    for name in ("config.json", "sub/notes.txt", "weights.safetensors"):
        assert _read(hf_hub_download(repo_id, name)) == _read(folder / name)

    # The same folder again changes nothing: the preupload oids let the client skip the commit.
    again = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Again")
    assert again.oid == info.oid and len(hub.commits(repo_id)) == 2


def test_revisions_branch_and_commit_sha(hub, repo_id):
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="w.bin", repo_id=repo_id, commit_message="v1")
    second = api.upload_file(path_or_fileobj=b"v2", path_in_repo="w.bin", repo_id=repo_id, commit_message="v2")
    assert hub.commits(repo_id)[-2:] == [first.oid, second.oid]
    assert [c.commit_id for c in api.list_repo_commits(repo_id)][:2] == [second.oid, first.oid]

    assert _read(hf_hub_download(repo_id, "w.bin")) == b"v2"
    assert _read(hf_hub_download(repo_id, "w.bin", revision="main")) == b"v2"
    old = hf_hub_download(repo_id, "w.bin", revision=first.oid)
    assert _read(old) == b"v1" and f"/snapshots/{first.oid}/" in old
    assert api.model_info(repo_id, revision=first.oid).sha == first.oid


def test_snapshot_download_at_main_and_at_an_older_commit(hub, repo_id, folder):
    first = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="one")
    api.upload_file(path_or_fileobj=b"more", path_in_repo="extra.txt", repo_id=repo_id)
    latest = snapshot_download(repo_id)
    assert _read(os.path.join(latest, "sub", "notes.txt")) == b"nested"
    assert os.path.exists(os.path.join(latest, "extra.txt"))
    older = snapshot_download(repo_id, revision=first.oid)
    assert older.endswith(first.oid) and not os.path.exists(os.path.join(older, "extra.txt"))
    assert _read(os.path.join(older, "weights.safetensors")) == _read(folder / "weights.safetensors")
    assert {s.rfilename for s in api.model_info(repo_id).siblings} == {
        "config.json", "sub/notes.txt", "weights.safetensors", "extra.txt"}


def test_errors_map_to_the_hub_exceptions(hub, repo_id):
    api.upload_file(path_or_fileobj=b"x", path_in_repo="here.txt", repo_id=repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-user/does-not-exist", "here.txt")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-user/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "here.txt", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "here.txt", revision="0" * 40)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):  # RemoteEntryNotFoundError in 2.x, an EntryNotFoundError
        hf_hub_download(repo_id, "missing.txt")


def test_offline_by_patching_the_constant(hub, repo_id, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; its request hook asks
    # `constants.is_offline_mode()`, which returns the module attribute, so patching that works.
    sha = api.upload_file(path_or_fileobj=b"cached", path_in_repo="a.txt", repo_id=repo_id).oid
    api.upload_file(path_or_fileobj=b"never fetched", path_in_repo="b.txt", repo_id=repo_id)
    online = hf_hub_download(repo_id, "a.txt", revision=sha)
    online_main = hf_hub_download(repo_id, "a.txt")
    snapshot = snapshot_download(repo_id)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(hub.requests)
    assert hf_hub_download(repo_id, "a.txt", revision=sha) == online
    assert hf_hub_download(repo_id, "a.txt") == online_main
    assert snapshot_download(repo_id) == snapshot
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download(repo_id, "b.txt", revision=sha)  # b.txt is not in that commit's cache
    with pytest.raises(LocalEntryNotFoundError):
        hf_hub_download("test-user/never-downloaded", "a.txt")
    assert len(hub.requests) == before  # nothing reached the server


def test_offline_by_environment_in_a_fresh_process(hub, repo_id):
    api.upload_file(path_or_fileobj=b"cached", path_in_repo="a.txt", repo_id=repo_id)
    online = hf_hub_download(repo_id, "a.txt")
    script = (
        "import sys\n"
        "from huggingface_hub import hf_hub_download\n"
        "from huggingface_hub.errors import LocalEntryNotFoundError\n"
        "print(hf_hub_download(sys.argv[1], 'a.txt'))\n"
        "try:\n"
        "    hf_hub_download(sys.argv[1], 'other.txt')\n"
        "except LocalEntryNotFoundError:\n"
        "    print('LocalEntryNotFoundError')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # same HF_HOME, hence the same cache
    out = subprocess.run([sys.executable, "-c", script, repo_id], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == [online, "LocalEntryNotFoundError"]


def test_corrupt_file_serves_garbage_under_the_committed_oid(hub, repo_id, tmp_path):
    api.upload_file(path_or_fileobj=b"good weights", path_in_repo="w.bin", repo_id=repo_id)
    hub.corrupt_file(repo_id, "w.bin")
    bad = _read(hf_hub_download(repo_id, "w.bin", cache_dir=tmp_path / "cache"))
    assert bad != b"good weights" and len(bad) == len(b"good weights")
    check = api.verify_repo_checksums(repo_id, cache_dir=tmp_path / "cache")
    assert [m["path"] for m in check.mismatches] == ["w.bin"]
