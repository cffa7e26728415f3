"""`python -m reader.speech.build [DEST] [--force] [--no-quantize]`: build the default packs and say what it did."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from reader.errors import ReaderError
from reader.speech import packs
from reader.speech.build import RECIPES, build_default_packs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reader.speech.build", description=__doc__)
    parser.add_argument("dest", nargs="?", type=Path, default=packs.builtin_pack_dir(),
                        help="folder to build into (default: the built-in packs folder of this environment)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a pack is up to date")
    parser.add_argument("--no-quantize", action="store_true", help="keep every stage in fp32")
    parser.add_argument("--only", action="append", choices=sorted(RECIPES), help="build only this pack")
    parser.add_argument("--offline", action="store_true",
                        help="fetch nothing: take the rich pack's voices (npm package kokoro-js) from npm's cache")
    parser.add_argument("--voices-tarball", type=Path, metavar="TGZ",
                        help="use this kokoro-js-1.2.1.tgz instead of `npm pack` (checked against the same pins)")
    args = parser.parse_args(argv)

    def report(name: str, pack_dir: Path, seconds: float, fresh: bool) -> None:
        manifest = packs.load_manifest(pack_dir)
        size = sum(b for _, _, b in manifest.all_files())
        verb = "built" if fresh else "up to date"
        print(f"{name}: {verb} in {seconds:.1f} s, {size / 1e6:.1f} MB, {pack_dir}")
        for stage, entry in manifest.stages.items():
            print(f"  {stage:9} {entry.file:15} {entry.bytes / 1e6:6.1f} MB  {entry.quantization}")

    start = time.perf_counter()
    try:
        build_default_packs(args.dest, quantize=not args.no_quantize, force=args.force, names=args.only,
                            report=report, offline=args.offline, voices_tarball=args.voices_tarball)
    except ReaderError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
