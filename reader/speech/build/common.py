"""What every recipe needs: find files in installed packages, record licenses, write a pack atomically."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reader.speech import packs
from reader.speech.errors import PackBuildError
from reader.speech.packs import FORMAT_VERSION, LICENSES_DIR, Manifest, PackFile, Source, Stage, TensorSpec

# Trove classifiers seen in our sources, for packages that declare no SPDX expression.
_CLASSIFIER_SPDX = {
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: MIT License": "MIT",
}
_LICENSE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")


@dataclass(frozen=True)
class Package:
    dist: str  # the name on PyPI
    module: str  # the import name holding the data files
    version: str
    license: str  # SPDX
    license_texts: tuple[tuple[str, str], ...]  # (file name, text) from the dist-info

    def file(self, *parts: str) -> Path:
        # Located through the distribution's RECORD, never by importing the module: some of these
        # packages import heavy dependencies we do not install (resemblyzer imports torch).
        path = Path(str(md.distribution(self.dist).locate_file("/".join((self.module, *parts)))))
        if not path.is_file():
            raise PackBuildError(
                f"The package {self.dist} {self.version} has no {'/'.join(parts)}; reinstall it "
                f"(pip install --force-reinstall {self.dist})."
            )
        return path


def require(dist: str, module: str) -> Package:
    """The installed distribution, or a PackBuildError that says how to install it."""
    try:
        distribution = md.distribution(dist)
    except md.PackageNotFoundError:
        raise PackBuildError(
            f"The package {dist} is not installed; run `make setup` (or pip install {dist})."
        ) from None
    meta = distribution.metadata
    spdx = meta.get("License-Expression") or ""
    if not spdx and meta.get("License") not in (None, "", "UNKNOWN"):
        spdx = meta["License"].strip()
    if not spdx:
        spdx = next((_CLASSIFIER_SPDX[c] for c in meta.get_all("Classifier") or [] if c in _CLASSIFIER_SPDX),
                     "NOASSERTION")
    texts = []
    for item in distribution.files or []:
        parts = Path(str(item)).parts
        if parts and parts[0].endswith(".dist-info") and parts[-1].upper().startswith(_LICENSE_PREFIXES):
            texts.append((parts[-1], item.read_text(encoding="utf-8")))
    return Package(dist, module, distribution.version, spdx, tuple(sorted(texts)))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class PackWriter:
    """Collects a pack's files in a hidden staging folder next to the destination, then renames it in."""

    root: Path
    name: str
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.name}.build-", dir=self.root))
        self.stages: dict[str, Stage] = {}
        self.files: list[PackFile] = []
        self._sources: dict[str, Source] = {}

    def source(self, package: Package, *, license: str | None = None, note: str = "",
               extra_texts: tuple[tuple[str, str], ...] = (), copied_from: str = "the installed distribution"
               ) -> Source:
        """Copy the package's license texts into licenses/DIST.txt once; the Source points at it."""
        rel = f"{LICENSES_DIR}/{package.dist}.txt"
        if rel not in {f.path for f in self.files}:
            header = (f"{package.dist} {package.version}\nDeclared license: {package.license}\n"
                      f"Texts copied from {copied_from} follow.\n")
            body = "".join(f"\n===== {name} =====\n{text.rstrip()}\n" for name, text in package.license_texts
                           + extra_texts)
            if not package.license_texts:
                body += "\n(The distribution ships no license file; the declared license is from its metadata.)\n"
            self.add_file(rel, (header + body).encode("utf-8"), role="license")
        return Source(package.dist, package.version, license or package.license, rel, note)

    def add_file(self, rel: str, data: bytes, *, role: str, sources: tuple[Source, ...] = ()) -> PackFile:
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = PackFile(rel, sha256_bytes(data), len(data), role, sources)
        self.files.append(entry)
        return entry

    def add_stage(self, stage: str, rel: str, data: bytes, *, quantization: str, sources: tuple[Source, ...],
                  description: str = "", tensor_notes: dict[str, str] | None = None,
                  threads: int | None = None, graph: str = "") -> Stage:
        path = self.staging / rel
        path.write_bytes(data)
        notes = tensor_notes or {}
        inputs, outputs = packs.onnx_io(path)
        entry = Stage(
            file=rel, sha256=sha256_bytes(data), bytes=len(data),
            inputs=tuple(TensorSpec(t.name, t.dtype, t.shape, notes.get(t.name, "")) for t in inputs),
            outputs=tuple(TensorSpec(t.name, t.dtype, t.shape, notes.get(t.name, "")) for t in outputs),
            quantization=quantization, sources=sources, description=description, threads=threads,
            graph=graph,
        )
        self.stages[stage] = entry
        return entry

    def finish(self, **fields: Any) -> Path:
        """Write the manifest, verify the staged pack, rename it into place; returns the pack folder."""
        build = dict(fields.pop("build", {}))
        build["seconds"] = round(time.perf_counter() - self.started, 2)
        manifest = Manifest(format_version=FORMAT_VERSION, name=self.name, stages=self.stages,
                            files=tuple(self.files), build=build, **fields)
        (self.staging / packs.MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        problems = packs.verify_pack(self.staging)
        if problems:
            raise PackBuildError(f"The freshly built pack {self.name} does not verify: {'; '.join(problems)}.")
        dest = self.root / self.name
        self.staging.chmod(0o755)  # mkdtemp makes it private; packs are read by every user of the venv
        packs.install_dir_atomically(self.staging, dest)
        return dest

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
