"""SVG snapshots of the main screen, the help screen and the voice picker (pytest-textual-snapshot).

Update them after an intended change with `make test PYTEST_ARGS=--snapshot-update` and look at the
report before committing.
"""

from __future__ import annotations

from reader.settings import Settings
from reader.text.extract import load_document
from reader.tui.app import make_app
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"
SIZE = (100, 36)


def _app(home):
    settings = Settings.load(home).with_(self_voicing=False)
    return make_app(settings, document=load_document(SAMPLE), warm_up=False)


def test_main_screen(snap_compare, reader_home):
    assert snap_compare(_app(reader_home), press=["down", "down", "down"], terminal_size=SIZE)


def test_help_screen(snap_compare, reader_home):
    assert snap_compare(_app(reader_home), press=["f1"], terminal_size=SIZE)


def test_voice_picker(snap_compare, reader_home):
    assert snap_compare(_app(reader_home), press=["v"], terminal_size=(120, 36))
