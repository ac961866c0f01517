"""Artifact archive (retland.archive): build on a fake results tree, verify, and catch
every kind of tampering; plus (slow) the Snakemake rule's wiring in a dry run."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from retland import archive

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = "fake"
PREFIX = f"{RUN}-artifact"
CONFIG = {"run": RUN, "seeds": [0, 1], "envs": ["hopper"], "stats": {"ci": 0.95},
          "archive": {"include_checkpoints": False}}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A small results tree in tmp_path (the working directory), grouped like the rule's inputs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(archive, "pip_freeze", lambda python=None: ("fakepkg==1.0\n", "stub"))
    files = {
        "figures": [f"paper_figures/{RUN}/fig02_scatter_hopper.png", f"paper_figures/{RUN}/fig02_scatter_hopper.pdf"],
        "stats": [f"results/{RUN}/stats/post_update.csv", f"results/{RUN}/stats/learning_curves.csv"],
        "post_update": [f"results/{RUN}/post_update/hopper/td3/seed{s}/step{k}.h5" for s in (0, 1) for k in (5, 10)],
        "train": [f"results/{RUN}/train/hopper/td3/seed{s}.h5" for s in (0, 1)],
    }
    for i, p in enumerate(f for group in files.values() for f in group):
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(bytes([i]) * 100 + os.urandom(3000) + p.encode())
    return files


def build(files, include_checkpoints=False, out=f"results/{RUN}/{RUN}-artifact.tar.gz", **kw):
    archive.archive_job(out, RUN, files, CONFIG, include_checkpoints, **kw)
    return out


def members(path):
    with tarfile.open(path, "r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t if m.isfile()}


def rewrite(src, dst, edit):
    """Copy the tarball ``src`` to ``dst`` with ``edit(dict name -> bytes)`` applied."""
    data = edit(members(src))
    with tarfile.open(dst, "w:gz") as t:
        for name, blob in data.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    return dst


def manifest(path):
    return json.loads(members(path)[f"{PREFIX}/manifest.json"])


def test_build_then_verify_passes(tree, capsys):
    out = build(tree)
    assert archive.verify_archive(out) == []
    assert archive.main(["verify", out]) == 0
    assert "OK" in capsys.readouterr().out
    names = set(members(out))
    expected = {f"{PREFIX}/{p}" for g in ("figures", "stats", "post_update") for p in tree[g]}
    expected |= {f"{PREFIX}/metadata/{m}" for m in ("config.yaml", "pip-freeze.txt", "git-commit.txt", "platform.json")}
    expected |= {f"{PREFIX}/manifest.json", f"{PREFIX}/MANIFEST.sha256"}
    assert names == expected
    # archived bytes are the source bytes, and the manifest lists every other member
    m = members(out)
    for p in tree["post_update"]:
        assert m[f"{PREFIX}/{p}"] == open(p, "rb").read()
    listed = {e["path"] for e in manifest(out)["files"]}
    assert {f"{PREFIX}/{p}" for p in listed} == expected - {f"{PREFIX}/manifest.json", f"{PREFIX}/MANIFEST.sha256"}
    assert [f for f in os.listdir(os.path.dirname(out)) if ".tmp" in f] == []


@pytest.mark.parametrize("victim", [f"results/{RUN}/stats/post_update.csv",
                                    f"results/{RUN}/post_update/hopper/td3/seed1/step10.h5"])
def test_one_flipped_byte_fails_naming_the_file(tree, tmp_path, capsys, victim):
    out = build(tree)

    def flip(d):
        blob = bytearray(d[f"{PREFIX}/{victim}"])
        blob[len(blob) // 2] ^= 0x01
        d[f"{PREFIX}/{victim}"] = bytes(blob)
        return d

    bad = rewrite(out, str(tmp_path / "bad.tar.gz"), flip)
    problems = archive.verify_archive(bad)
    assert len(problems) == 1 and problems[0].startswith(victim) and "sha256" in problems[0]
    assert archive.main(["verify", bad]) == 1
    assert victim in capsys.readouterr().err


def test_missing_member_fails(tree, tmp_path):
    out = build(tree)
    gone = tree["figures"][0]
    bad = rewrite(out, str(tmp_path / "bad.tar.gz"), lambda d: {k: v for k, v in d.items() if k != f"{PREFIX}/{gone}"})
    problems = archive.verify_archive(bad)
    assert len(problems) == 1 and gone in problems[0] and "missing" in problems[0]


def test_extra_member_fails(tree, tmp_path):
    out = build(tree)
    bad = rewrite(out, str(tmp_path / "bad.tar.gz"), lambda d: {**d, f"{PREFIX}/results/{RUN}/stats/sneaky.csv": b"a,b\n"})
    problems = archive.verify_archive(bad)
    assert len(problems) == 1 and "sneaky.csv" in problems[0] and "not listed" in problems[0]


def test_changed_size_and_disagreeing_sha_manifest_fail(tree, tmp_path):
    out = build(tree)
    victim = f"{PREFIX}/{tree['stats'][1]}"
    bad = rewrite(out, str(tmp_path / "longer.tar.gz"), lambda d: {**d, victim: d[victim] + b"\n"})
    assert any("size" in p and tree["stats"][1] in p for p in archive.verify_archive(bad))

    def edit_sha(d):
        d[f"{PREFIX}/MANIFEST.sha256"] = d[f"{PREFIX}/MANIFEST.sha256"].replace(b"0", b"1", 1)
        return d

    bad = rewrite(out, str(tmp_path / "sha.tar.gz"), edit_sha)
    assert any("MANIFEST.sha256" in p for p in archive.verify_archive(bad))


def test_truncated_or_foreign_file_fails_cleanly(tree, tmp_path):
    out = build(tree)
    data = open(out, "rb").read()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    assert archive.verify_archive(str(tmp_path / "cut.tar.gz"))
    (tmp_path / "text.tar.gz").write_bytes(b"not an archive")
    assert archive.verify_archive(str(tmp_path / "text.tar.gz"))
    assert archive.main(["verify", str(tmp_path / "nope.tar.gz")]) == 1
    no_manifest = rewrite(out, str(tmp_path / "nm.tar.gz"), lambda d: {k: v for k, v in d.items() if "manifest" not in k})
    assert any("manifest.json" in p for p in archive.verify_archive(no_manifest))


def test_checkpoints_only_when_asked(tree, tmp_path):
    without = members(build(tree, include_checkpoints=False, out=str(tmp_path / "a.tar.gz")))
    assert not any("/train/" in n for n in without)
    out = build(tree, include_checkpoints=True, out=str(tmp_path / "b.tar.gz"))
    assert archive.verify_archive(out) == []
    with_ = members(out)
    for p in tree["train"]:
        assert with_[f"{PREFIX}/{p}"] == open(p, "rb").read()
    assert manifest(out)["include_checkpoints"] is True
    assert manifest(str(tmp_path / "a.tar.gz"))["include_checkpoints"] is False


def test_manifest_records_pip_freeze_commit_platform_config(tree, tmp_path, monkeypatch):
    monkeypatch.undo()  # the real pip freeze
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    (repo / "f").write_text("x")
    subprocess.run(git + ["add", "f"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "c"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()

    out = build(tree, repo=str(repo))
    m, man = members(out), manifest(out)
    listed = {e["path"]: e for e in man["files"]}
    for meta in ("metadata/pip-freeze.txt", "metadata/git-commit.txt", "metadata/platform.json", "metadata/config.yaml"):
        assert meta in listed and listed[meta]["size"] == len(m[f"{PREFIX}/{meta}"])
    freeze = m[f"{PREFIX}/metadata/pip-freeze.txt"].decode()
    assert man["pip_freeze_method"] == "pip freeze" and "pytest==" in freeze.lower()
    assert m[f"{PREFIX}/metadata/git-commit.txt"].decode().strip() == head == man["git_commit"]
    plat = json.loads(m[f"{PREFIX}/metadata/platform.json"])
    assert plat["python"] == sys.version.split()[0] and man["platform"] == plat["platform"]
    # the machine line (issue 21): CPU, XLA instruction set and flags, jax, threads
    assert {"cpu_model", "xla_cpu_max_isa", "xla_flags", "jax", "jaxlib", "threads"} <= set(plat["machine"])
    assert plat["machine"]["xla_flags"] == os.environ.get("XLA_FLAGS", "")
    assert isinstance(plat["computed_on"], list)
    assert yaml.safe_load(m[f"{PREFIX}/metadata/config.yaml"]) == CONFIG
    assert man["run"] == RUN and man["format"] == archive.FORMAT
    (repo / "f").write_text("y")  # a modified work tree is flagged
    assert archive.git_commit(str(repo)) == head + "-dirty"
    assert archive.git_commit(str(tmp_path / "not-a-repo")) == "unknown"


def _assert_nothing_written(out):
    d = os.path.dirname(out)
    assert not os.path.exists(out)
    assert not os.path.isdir(d) or [f for f in os.listdir(d) if "artifact" in f] == []


def test_failure_while_building_leaves_no_tarball(tree, monkeypatch):
    out = f"results/{RUN}/{RUN}-artifact.tar.gz"
    calls = []

    def failing_read(self, n=-1):
        calls.append(n)
        if len(calls) > 3:
            raise OSError("disk on fire")
        return _orig(self, n)

    _orig = archive._HashingReader.read
    monkeypatch.setattr(archive._HashingReader, "read", failing_read)
    with pytest.raises(OSError, match="disk on fire"):
        build(tree)
    _assert_nothing_written(out)
    monkeypatch.setattr(archive._HashingReader, "read", _orig)

    monkeypatch.setattr(archive, "verify_archive", lambda path: ["x: sha256 mismatch"])
    with pytest.raises(archive.ArchiveError, match="does not verify"):
        build(tree)
    _assert_nothing_written(out)


def test_missing_or_outside_input_is_refused(tree, tmp_path):
    out = f"results/{RUN}/{RUN}-artifact.tar.gz"
    with pytest.raises(archive.ArchiveError, match="step10.h5"):
        build({**tree, "post_update": tree["post_update"] + [f"results/{RUN}/post_update/x/step10.h5"]})
    _assert_nothing_written(out)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text("a\n")
    try:
        with pytest.raises(archive.ArchiveError, match="outside"):
            build({**tree, "stats": [str(outside)]})
    finally:
        outside.unlink()
    _assert_nothing_written(out)


@pytest.mark.slow
def test_rule_is_explicit_and_honours_include_checkpoints(tmp_path):
    """Dry runs in a copy of the workflow: `archive` is not in `rule all`; its inputs are
    the figures, every stats table, the post-update files and, if asked, the checkpoints."""
    for item in ("Snakefile", "workflow", "config", "src"):
        src = os.path.join(REPO, item)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, tmp_path / item)
    cfg = yaml.safe_load(open(tmp_path / "config" / "ci.yaml"))
    cfg["archive"] = {"include_checkpoints": True}
    yaml.safe_dump(cfg, open(tmp_path / "config" / "ck.yaml", "w"))
    snakemake = os.path.join(os.path.dirname(sys.executable), "snakemake")

    def dry(*args):
        p = subprocess.run([snakemake, *args, "-n", "--cores", "1"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout + p.stderr

    assert "rule archive" not in dry("--configfile", "config/ci.yaml")
    plain = dry("archive", "--configfile", "config/ci.yaml")
    ck = dry("archive", "--configfile", "config/ck.yaml")
    for text in (plain, ck):
        inputs = next(line for line in text.splitlines() if line.strip().startswith("input:") and "paper_figures" in line)
        for f in ("results/ci/stats/post_update.csv", "results/ci/stats/learning_curves.csv",
                  "results/ci/post_update/hopper/td3/seed1/step1200.h5", "paper_figures/ci/fig02_scatter_hopper.pdf"):
            assert f in inputs
        assert ("results/ci/train/hopper/td3/seed0.h5" in inputs) == (text is ck)
        assert "results/ci/ci-artifact.tar.gz" in text
