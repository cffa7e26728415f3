"""Pilot tests of the family screens: creating and unlocking the vault, and the dialect archive."""

from __future__ import annotations

import asyncio

import numpy as np
import soundfile as sf

from reader.settings import Settings
from reader.text.extract import load_document
from reader.tui.app import make_app
from reader.tui.family import ArchiveScreen, FieldsScreen, PassphraseScreen
from tests.conftest import ROOT

SAMPLE = ROOT / "reader" / "data" / "sample.md"


def _app(home):
    settings = Settings.load(home).with_(self_voicing=False, fit_minutes=0.75)  # a short fit: 45 s
    return make_app(settings, document=load_document(SAMPLE), warm_up=False)


async def _type(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch if ch != " " else "space")


async def _create_vault(app, pilot, key: str, passphrase: str) -> None:
    """Open a vault screen with `key` when there is no vault yet: the passphrase, twice."""
    await pilot.press(key)
    assert isinstance(app.screen, PassphraseScreen) and app.screen.create
    for _ in range(2):
        await _type(pilot, passphrase)
        await pilot.press("enter")
    await _settle(app, pilot)


async def _settle(app, pilot) -> None:
    for _ in range(50):
        await pilot.pause(0.05)
        if not any(w.is_running for w in app.workers) and not any(
            w.is_running for s in app.screen_stack for w in s.workers
        ):
            return


def test_create_vault_add_and_list_a_recording(reader_home, tmp_path):
    wav = tmp_path / "grandpa.wav"
    t = np.arange(44_100 * 2) / 44_100
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 44_100)

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await _create_vault(app, pilot, "a", "correct horse")
            assert isinstance(app.screen, ArchiveScreen)
            assert (reader_home / "vault").is_dir()
            await pilot.press("i")
            assert isinstance(app.screen, FieldsScreen)
            for value in (str(wav), "Cantonese", "Anna", "Grandpa", "Guangzhou", "market", "hello"):
                await _type(pilot, value)
                await pilot.press("enter")
            await _settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, ArchiveScreen)
            assert len(screen.entries) == 1
            entry = screen.entries[0]
            assert (entry.dialect, entry.speaker, entry.consent_by, entry.region) == (
                "Cantonese", "Grandpa", "Anna", "Guangzhou")
            assert "Added" in str(screen.query_one("#hint").render())
            await pilot.press("escape")
        assert app.vault.locked  # the app locks the vault when it ends

    asyncio.run(scenario())


def test_wrong_passphrase_is_one_sentence_and_the_field_stays(reader_home):
    from reader.vault.store import Vault

    Vault.create(reader_home / "vault", "the right one").lock()

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("a")
            assert isinstance(app.screen, PassphraseScreen) and not app.screen.create
            await _type(pilot, "the wrong one")
            await pilot.press("enter")
            await _settle(app, pilot)
            assert isinstance(app.screen, PassphraseScreen)
            assert str(app.screen.query_one("#hint").render()) == "Wrong passphrase."
            await _type(pilot, "the right one")
            await pilot.press("enter")
            await _settle(app, pilot)
            assert isinstance(app.screen, ArchiveScreen)

    asyncio.run(scenario())


def test_voices_screen_refuses_enrollment_without_consent_and_stores_nothing(reader_home):
    from reader.tui.voices import VoicesScreen

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(120, 40)) as pilot:
            await _create_vault(app, pilot, "V", "pass phrase")
            assert isinstance(app.screen, VoicesScreen)
            await pilot.press("i")
            for value in ("grandma", "/nonexistent.wav", "", "", "", "", ""):  # no consent given
                await _type(pilot, value)
                await pilot.press("enter")
            await _settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, VoicesScreen)
            assert "consent" in str(screen.query_one("#hint").render())
            assert screen.book.names() == []

    asyncio.run(scenario())


async def _wait_for_workers(app, pilot, timeout: float = 300) -> None:
    """Until no worker runs (enrollment and preset fitting take about a minute on the rich pack)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await pilot.pause(0.2)
        if not any(w.is_running for s in app.screen_stack for w in s.workers) and \
                not any(w.is_running for w in app.workers):
            return
    raise AssertionError("the screen's work did not finish")


def test_voices_screen_enrolls_verifies_uses_and_deletes_a_voice(reader_home, joe_files, speakers, tmp_path):
    """The whole Voices screen by keys: enroll Joe from files with consent (spoken too), see the fitted preset, verify
    a recording of Joe that was not enrolled (same person) and one of Kokoro's kumo (probably not), read
    with the preset, then delete the voice (which takes the reading voice with it)."""
    from reader.tui.voices import VoicesScreen
    from reader.voices.enroll import NOT_SAME, SAME
    from tests.speakers import SR, write_clip

    kumo = write_clip(tmp_path / "kumo.wav", speakers["kumo"][0], SR, subtype="PCM_16")

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(140, 40)) as pilot:
            await _create_vault(app, pilot, "V", "pass phrase")
            screen = app.screen
            assert isinstance(screen, VoicesScreen)
            await pilot.press("i")
            files = " ".join(str(p) for p in joe_files[:3])
            consent = write_clip(tmp_path / "consent.wav", speakers["joe"][3], SR, subtype="PCM_16")
            for value in ("grandpa", files, "", "Grandpa Joe", "reading letters aloud", "", str(consent)):
                await _type(pilot, value)
                await pilot.press("enter")
            await _wait_for_workers(app, pilot)
            hint = str(screen.query_one("#hint").render())
            assert hint.startswith("grandpa: Closest available voice:"), hint
            assert screen.book.names() == ["grandpa"]
            listed = str(screen.query_one("#voices").get_option_at_index(0).prompt)
            assert listed.startswith("grandpa: 3 recordings") and "Grandpa Joe" in listed, listed
            assert "spoken consent kept" in listed
            preset = screen.book.preset("grandpa")
            assert preset["kind"] in ("stock", "blend", "style") and preset["pack"] == "kokoro-int8"
            spec = screen.book.reading_spec("grandpa")[0]

            for path, verdict in ((joe_files[3], SAME), (kumo, NOT_SAME)):
                await pilot.press("C")
                await _type(pilot, str(path))
                await pilot.press("enter")
                await _wait_for_workers(app, pilot)
                hint = str(screen.query_one("#hint").render())
                assert hint.startswith(verdict.capitalize() + ": similarity"), hint

            await pilot.press("u")
            assert Settings.load(reader_home).voice == spec
            assert app.session.voice == spec

            await pilot.press("delete")
            await _type(pilot, "no")
            await pilot.press("enter")
            assert screen.book.names() == ["grandpa"]
            assert str(screen.query_one("#hint").render()) == "Nothing was deleted."
            await pilot.press("delete")
            await _type(pilot, "yes")
            await pilot.press("enter")
            await _settle(app, pilot)
            hint = str(screen.query_one("#hint").render())
            assert hint.startswith("Deleted grandpa: 3 recordings, 1 embedding, 1 preset, 2 consent records"), hint
            assert screen.book.names() == []
            assert Settings.load(reader_home).voice is None and app.session.voice is None

    asyncio.run(scenario())


def test_an_enrolled_reading_voice_is_loaded_when_the_vault_is_unlocked(reader_home, speakers, encoder, tmp_path,
                                                                       monkeypatch):
    """The reading voice is an enrolled voice on a cloning pack: until the vault is unlocked the status
    line says so (the default voice reads); unlocking it (for any screen) loads the voice."""
    import os

    from models.tiny_packs import make_tiny_pack
    from reader.speech import packs
    from reader.speech.pipeline import Pipeline
    from reader.vault.crypto import KdfParams
    from reader.vault.store import Vault
    from reader.voices import fit
    from reader.voices.consent import Consent
    from reader.voices.enroll import VoiceBook, unit_mean
    from tests.speakers import SR

    make_tiny_pack(tmp_path / "packs" / "tiny-clone", "speaker_embedding")
    monkeypatch.setenv("READER_PACKS", os.pathsep.join([str(packs.builtin_pack_dir()), str(tmp_path / "packs")]))
    pipeline = Pipeline.load(packs.open_pack(tmp_path / "packs" / "tiny-clone"), Settings(home=tmp_path))
    clips = speakers["joe"][:2]
    with Vault.create(reader_home / "vault", "pass phrase", kdf_params=KdfParams(8 * 1024, 1, 1)) as vault:
        book = VoiceBook(vault)
        book.store_consent("nana", Consent.now("nana", "nana", "reading letters"))
        book.store_embedding("nana", unit_mean(encoder.embed(c, SR) for c in clips), len(clips))
        book.store_preset("nana", fit.fit_preset(pipeline, encoder, book.embedding("nana"), clips16k=clips))
        preset_id = vault.find("preset", "preset", book.group("nana")).id
    Settings.load(reader_home).with_(voice="vault:" + preset_id).save()

    async def scenario():
        app = _app(reader_home)
        async with app.run_test(size=(160, 40)) as pilot:
            status = lambda: str(app.query_one("#status").render())  # noqa: E731
            assert "enrolled voice (locked" in status() and app.session.voice is None
            await pilot.press("V")
            await _type(pilot, "pass phrase")
            await pilot.press("enter")
            await _wait_for_workers(app, pilot)
            assert app.session.voice == "vault:" + preset_id
            assert "nana's voice" in status()
            await pilot.press("escape")

    asyncio.run(scenario())


def _vault_with_a_recording(home, tmp_path, speaker: str) -> None:
    from reader.archive.store import ArchiveStore
    from reader.vault.store import Vault

    wav = tmp_path / "oma.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 330 * np.arange(22_050) / 22_050)).astype(np.float32), 22_050)
    with Vault.create(home / "vault", "the right one") as vault:
        ArchiveStore(vault).add(wav, dialect="Cantonese", consent_by="Anna", speaker=speaker)


def _on_screen(app) -> str:
    """What the terminal shows now (the screenshot's text)."""
    return app.export_screenshot()


def test_lock_now_key_closes_every_screen_with_vault_data(reader_home, tmp_path):
    """L locks the vault at once: the archive screen with the decrypted names closes, the app says so,
    and the next vault key asks for the passphrase again."""
    _vault_with_a_recording(reader_home, tmp_path, "Großtante Ilse")

    async def scenario():
        app = _app(reader_home)
        said = []
        app.say = lambda text, queue=False: said.append(text)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("a")
            await _type(pilot, "the right one")
            await pilot.press("enter")
            await _settle(app, pilot)
            assert isinstance(app.screen, ArchiveScreen) and "Großtante" in _on_screen(app)
            await pilot.press("K")
            await _settle(app, pilot)
            assert app.vault.locked
            assert not any(isinstance(s, ArchiveScreen) for s in app.screen_stack)
            assert "Großtante" not in _on_screen(app)
            assert any(text.startswith("Vault locked.") for text in said)
            assert "K" in [b.key for b in app.BINDINGS]  # listed in the keys the help shows
            await pilot.press("a")
            assert isinstance(app.screen, PassphraseScreen)

    asyncio.run(scenario())


def test_the_idle_lock_closes_the_vault_screens_too(reader_home, tmp_path):
    _vault_with_a_recording(reader_home, tmp_path, "Großtante Ilse")

    async def scenario():
        settings = Settings.load(reader_home).with_(self_voicing=False, vault_idle_lock_s=2.0)
        app = make_app(settings, document=load_document(SAMPLE), warm_up=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("a")
            await _type(pilot, "the right one")
            await pilot.press("enter")
            for _ in range(40):
                await pilot.pause(0.05)
                if isinstance(app.screen, ArchiveScreen):
                    break
            assert isinstance(app.screen, ArchiveScreen) and not app.vault.locked
            for _ in range(60):
                await pilot.pause(0.1)
                if app.vault.locked and not isinstance(app.screen, ArchiveScreen):
                    break
            assert app.vault.locked
            assert not any(isinstance(s, ArchiveScreen) for s in app.screen_stack)
            assert "Großtante" not in _on_screen(app)

    asyncio.run(scenario())
