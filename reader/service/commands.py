"""`reader serve`: the resident speech service (see reader.service.server)."""

from __future__ import annotations

import argparse
from typing import Callable

from reader.settings import Settings


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace, Settings], int]]:
    from reader.service.server import DEFAULT_IDLE_S

    p = sub.add_parser("serve", help="keep the voices loaded and speak for `reader say` and screen readers",
                       description="Keep the voices loaded and speak over a Unix socket in READER_HOME "
                                   "(only this user may connect). `reader say` uses it when it runs and "
                                   "starts it when it does not; it exits after the idle time.")
    p.add_argument("--idle", type=float, default=DEFAULT_IDLE_S,
                   help=f"exit after this many seconds with no client and nothing to say (default {DEFAULT_IDLE_S:g})")
    p.add_argument("--stop", action="store_true", help="ask a running service to exit")
    p.add_argument("--warm", default="en",
                   help="languages whose voices load at start, comma separated (default en; 'en,zh' also the rich voice)")
    return {"serve": cmd_serve}


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from reader.service import protocol

    if args.stop:
        sock = protocol.connect(settings.home)
        if sock is None:
            print("No speech service is running.")
            return 0
        sock.sendall(protocol.encode({"op": "quit"}))
        sock.close()
        print("The speech service is stopping.")
        return 0
    from reader.service.server import SpeechService

    warm = tuple(lang for lang in args.warm.split(",") if lang)
    service = SpeechService(settings, idle_s=args.idle, warm=warm)
    service.bind()
    print(f"Speaking on {service.path}; exits after {args.idle:g} s idle.", flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
