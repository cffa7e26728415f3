"""The network guard refuses every socket but AF_UNIX, and a full CLI session opens none."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
        env={"READER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=120,
    )


def test_connect_attempt_is_refused(tmp_path):
    result = _run(
        """
        import socket
        from reader import offline
        from reader.errors import NetworkRefused
        offline.install()
        outcomes = []
        for attempt in (lambda: socket.create_connection(("127.0.0.1", 9)),
                        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                        lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM),
                        lambda: socket.getaddrinfo("example.org", 443)):
            try:
                attempt()
                outcomes.append("allowed")
            except NetworkRefused as exc:
                outcomes.append("refused: " + str(exc))
        a, b = socket.socketpair()  # local Unix sockets stay allowed (asyncio needs them)
        outcomes.append("unix " + a.family.name)
        print("\\n".join(outcomes))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("refused: ") for line in lines[:4]), lines
    assert "never uses the network" in lines[0]
    assert lines[4] == "unix AF_UNIX"


def test_full_cli_session_opens_no_socket(tmp_path):
    """An audit hook installed before the app records every socket; a whole session must open none."""
    doc = tmp_path / "letter.md"
    doc.write_text("# Hello\n\nDr. Smith paid $3.50 on 2026-11-28. 我喜欢Python。\n", encoding="utf-8")
    result = _run(
        f"""
        import json, sys
        seen = []
        def spy(event, args):
            if event == "socket.__new__":
                seen.append(("socket", int(args[1])))
            elif event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
                seen.append((event, repr(args[1] if event == "socket.connect" else args[0])))
        sys.addaudithook(spy)
        from reader.cli import main
        codes = [main(["sentences", {str(doc)!r}, "--spoken", "--json"]),
                 main(["extract", {str(doc)!r}, "--json"]),
                 main(["dict", "add", "Anna", "Ah-na"]),
                 main(["dict", "list"])]
        import socket
        print(json.dumps({{"codes": codes, "seen": [s for s in seen if s != ("socket", int(socket.AF_UNIX))]}}),
              file=sys.stderr)
        """,
        tmp_path,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 0], result.stderr
    assert report["seen"] == []


def test_every_entry_point_installs_the_guard(tmp_path):
    result = _run(
        """
        from reader import offline
        from reader.cli import main
        main(["dict", "list"])
        print(offline.is_installed())
        """,
        tmp_path,
    )
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr
