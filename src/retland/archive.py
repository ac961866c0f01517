"""Artifact archive of one run: results, figures and provenance in one checked tarball.

``build_archive`` writes ``<run>-artifact.tar.gz`` atomically (temporary name in the same
directory, verified, then renamed), so a failure never leaves a tarball behind. Layout::

    <run>-artifact/
        results/<run>/stats/*.csv                          statistics
        results/<run>/post_update/**/*.h5                  post-update distributions
        results/<run>/train/**/*.h5                        checkpoints (only if asked)
        paper_figures/<run>/*                              figures
        metadata/config.yaml                               the resolved (merged) config
        metadata/pip-freeze.txt                            ``python -m pip freeze``
        metadata/git-commit.txt                            HEAD commit (``-dirty`` if modified)
        metadata/platform.json                             OS, machine, Python, host; CPU model, XLA CPU ISA,
                                                           XLA flags, jax, threads (here and where computed)
        manifest.json                                      every other member: sha256 + size
        MANIFEST.sha256                                    the same, for ``sha256sum -c``

``python -m retland.archive verify FILE`` re-checks every checksum and size and fails on
any mismatch, missing member or member the manifest does not list. Standard library only
(PyYAML is used, when importable, only to write config.yaml; otherwise it is JSON, which
is also YAML).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import time

from .base.atomic import atomic_path
from .portability import machine
from .provenance import git_commit

FORMAT = "retland.archive/1"
MANIFEST_JSON = "manifest.json"
MANIFEST_SHA = "MANIFEST.sha256"
_MANIFESTS = (MANIFEST_JSON, MANIFEST_SHA)
_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    pass


# --------------------------------------------------------------------------- provenance


def pip_freeze(python: str | None = None) -> tuple[str, str]:
    """(``pip freeze`` output, method). Falls back to importlib.metadata when pip is absent."""
    try:
        p = subprocess.run([python or sys.executable, "-m", "pip", "freeze", "--all"],
                           capture_output=True, text=True, timeout=300)
        if p.returncode == 0 and p.stdout.strip():
            return p.stdout if p.stdout.endswith("\n") else p.stdout + "\n", "pip freeze"
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib import metadata

    lines = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                    if d.metadata["Name"]}, key=str.lower)
    return "".join(line + "\n" for line in lines), "importlib.metadata (pip unavailable)"


def platform_info() -> dict:
    return {
        "platform": platform.platform(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "host": platform.node(),
        # the machine line of every output's provenance: CPU model, XLA CPU instruction set
        # (docs/numbers-that-travel.md), XLA flags, jax/jaxlib, threads
        "machine": machine(),
    }


def computed_on(files) -> list[dict]:
    """The distinct ``machine`` entries of the provenance sidecars (``*.provenance.json``)
    among ``files``: where the archived numbers were computed (the archiving machine can
    be another one)."""
    seen = []
    for p in files:
        if not str(p).endswith(".provenance.json"):
            continue
        try:
            with open(p) as f:
                m = json.load(f).get("machine")
        except (OSError, ValueError):
            continue
        if m and m not in seen:
            seen.append(m)
    return seen


def config_yaml(config: dict) -> str:
    plain = json.loads(json.dumps(config, default=str))  # snakemake's config types -> plain
    try:
        import yaml
    except ImportError:
        return json.dumps(plain, indent=2) + "\n"
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=None)


# --------------------------------------------------------------------------- building


class _HashingReader:
    """File wrapper that hashes exactly what tarfile reads (no second pass, no race)."""

    def __init__(self, f):
        self.f, self.sha, self.n = f, hashlib.sha256(), 0

    def read(self, n=-1):
        b = self.f.read(n)
        self.sha.update(b)
        self.n += len(b)
        return b


def _arcname(path: str, root: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    rel = rel.replace(os.sep, "/")
    if rel.startswith("../") or rel == ".." or os.path.isabs(rel):
        raise ArchiveError(f"{path}: outside the workflow directory {root}")
    return rel


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
    tar.addfile(info, io.BytesIO(data))


def build_archive(out: str, run: str, files, config: dict, *, repo: str | None = None,
                  root: str | None = None, include_checkpoints: bool = False, log=print) -> dict:
    """Write the artifact tarball ``out`` holding ``files`` plus provenance; return the manifest.

    ``files``: paths of regular files (relative to ``root``, default the current directory),
    stored under ``<run>-artifact/`` with their paths relative to ``root``. ``repo`` is
    the git repository whose commit is recorded (default ``root``).
    """
    root = root or os.getcwd()
    prefix = f"{run}-artifact"
    names: dict[str, str] = {}
    for p in files:
        if not os.path.isfile(p):
            raise ArchiveError(f"{p}: not a regular file (missing?)")
        name = _arcname(p, root)
        if name.split("/")[0] == "metadata" or name in _MANIFESTS:
            raise ArchiveError(f"{p}: clashes with the archive's own metadata")
        if name in names:
            raise ArchiveError(f"{p}: given twice")
        names[name] = p
    now = time.time()
    freeze, freeze_method = pip_freeze()
    commit = git_commit(repo or root)
    plat = platform_info()
    plat["computed_on"] = computed_on(names.values())
    metadata = {
        "metadata/config.yaml": config_yaml(config).encode(),
        "metadata/pip-freeze.txt": freeze.encode(),
        "metadata/git-commit.txt": (commit + "\n").encode(),
        "metadata/platform.json": (json.dumps(plat, indent=2, sort_keys=True) + "\n").encode(),
    }
    entries = []
    with atomic_path(out) as tmp:
        with tarfile.open(tmp, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(names):
                path = names[name]
                info = tar.gettarinfo(path, arcname=f"{prefix}/{name}")
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o644
                with open(path, "rb") as f:
                    reader = _HashingReader(f)
                    tar.addfile(info, reader)
                if reader.n != info.size:
                    raise ArchiveError(f"{path}: changed size while being archived")
                entries.append({"path": name, "sha256": reader.sha.hexdigest(), "size": info.size})
            for name, data in metadata.items():
                _add_bytes(tar, f"{prefix}/{name}", data, now)
                entries.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
            manifest = {
                "format": FORMAT,
                "run": run,
                "created": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="seconds"),
                "git_commit": commit,
                "platform": plat["platform"],
                "python": plat["python"],
                "pip_freeze": "metadata/pip-freeze.txt",
                "pip_freeze_method": freeze_method,
                "config": "metadata/config.yaml",
                "include_checkpoints": bool(include_checkpoints),
                "files": entries,
            }
            _add_bytes(tar, f"{prefix}/{MANIFEST_JSON}", (json.dumps(manifest, indent=2) + "\n").encode(), now)
            sha_lines = "".join(f"{e['sha256']}  {e['path']}\n" for e in entries)
            _add_bytes(tar, f"{prefix}/{MANIFEST_SHA}", sha_lines.encode(), now)
        problems = verify_archive(tmp)
        if problems:  # never rename a tarball that does not verify
            raise ArchiveError(f"{out}: fresh archive does not verify:\n  " + "\n  ".join(problems))
    total = sum(e["size"] for e in entries)
    log(f"wrote {out}: {len(entries)} files, {total / 1e6:.2f} MB uncompressed, "
        f"{os.path.getsize(out) / 1e6:.2f} MB compressed; commit {commit}")
    return manifest


def archive_job(out: str, run: str, inputs: dict, config: dict, include_checkpoints: bool,
                repo: str | None = None) -> dict:
    """Rule entry point: ``inputs`` maps a group (figures, stats, post_update, train) to paths.
    The ``train`` group (checkpoints) is archived only with ``include_checkpoints``."""
    files = []
    for group, paths in inputs.items():
        paths = list(paths or [])
        if group == "train" and not include_checkpoints:
            print(f"{group}: {len(paths)} files left out (archive.include_checkpoints is false)")
            continue
        print(f"{group}: {len(paths)} files")
        files += paths
    return build_archive(out, run, files, config, repo=repo, include_checkpoints=include_checkpoints)


# --------------------------------------------------------------------------- verifying


def _safe(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and ".." not in parts and "" not in parts[1:-1]


def verify_archive(path: str) -> list[str]:
    """Every problem found in the archive at ``path`` (empty list: it verifies)."""
    return _verify(path)[0]


def _verify(path: str) -> tuple[list[str], dict | None]:
    try:
        tar = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as e:
        return [f"{path}: cannot be read as a .tar.gz ({e})"], None
    problems: list[str] = []
    digests: dict[str, tuple[str, int]] = {}
    texts: dict[str, bytes] = {}
    prefix = None
    try:
        with tar:
            for m in tar:
                name = m.name.rstrip("/")
                if m.isdir():
                    continue
                if not _safe(name):
                    problems.append(f"{m.name}: unsafe member path")
                    continue
                top, _, rel = name.partition("/")
                if prefix is None:
                    prefix = top
                if top != prefix or not rel:
                    problems.append(f"{m.name}: outside the archive's top directory {prefix}/")
                    continue
                if not m.isfile():
                    problems.append(f"{rel}: not a regular file")
                    continue
                if rel in digests:
                    problems.append(f"{rel}: stored more than once")
                    continue
                sha, f = hashlib.sha256(), tar.extractfile(m)
                keep = rel in _MANIFESTS
                buf = []
                while chunk := f.read(_CHUNK):
                    sha.update(chunk)
                    if keep:
                        buf.append(chunk)
                digests[rel] = (sha.hexdigest(), m.size)
                if keep:
                    texts[rel] = b"".join(buf)
    except (OSError, tarfile.TarError, EOFError, ValueError) as e:  # truncated / corrupt gzip
        problems.append(f"{path}: corrupt archive ({type(e).__name__}: {e})")
        return problems, None
    if MANIFEST_JSON not in texts:
        return problems + [f"{MANIFEST_JSON}: missing, nothing can be checked"], None
    try:
        manifest = json.loads(texts[MANIFEST_JSON])
        listed = {e["path"]: (e["sha256"], int(e["size"])) for e in manifest["files"]}
    except (ValueError, KeyError, TypeError) as e:
        return problems + [f"{MANIFEST_JSON}: unreadable ({e})"], None
    if manifest.get("format") != FORMAT:
        problems.append(f"{MANIFEST_JSON}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    for rel, (sha, size) in sorted(listed.items()):
        if rel not in digests:
            problems.append(f"{rel}: listed in the manifest but missing from the archive")
            continue
        got_sha, got_size = digests[rel]
        if got_size != size:
            problems.append(f"{rel}: size {got_size} != manifest {size}")
        if got_sha != sha:
            problems.append(f"{rel}: sha256 {got_sha} != manifest {sha}")
    for rel in sorted(set(digests) - set(listed) - set(_MANIFESTS)):
        problems.append(f"{rel}: in the archive but not listed in the manifest")
    if MANIFEST_SHA not in texts:
        problems.append(f"{MANIFEST_SHA}: missing")
    else:
        sha_listed = {}
        for line in texts[MANIFEST_SHA].decode(errors="replace").splitlines():
            digest, sep, rel = line.partition("  ")
            if sep:
                sha_listed[rel] = digest
        if sha_listed != {rel: sha for rel, (sha, _) in listed.items()}:
            problems.append(f"{MANIFEST_SHA}: disagrees with {MANIFEST_JSON}")
    return problems, manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m retland.archive", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="re-check every checksum of an artifact archive")
    v.add_argument("file")
    args = ap.parse_args(argv)
    if args.cmd == "verify":
        problems, manifest = _verify(args.file)
        if problems:
            print(f"FAILED {args.file}: {len(problems)} problem(s)", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            return 1
        print(f"OK {args.file}: {len(manifest['files'])} files match their sha256 "
              f"(run {manifest['run']}, commit {manifest['git_commit']}, created {manifest['created']})")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
