"""``python -m tests.wandb_double --port P --bind ADDR``: run the double standalone."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .server import WandbDouble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.wandb_double")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--bind", action="append", default=None, help="address to listen on (repeatable)"
    )
    parser.add_argument("--api-key", default=None, help="the accepted key (default: generated)")
    parser.add_argument("--entity", default="sweepops-test")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    binds = args.bind or ["127.0.0.1"]
    double = WandbDouble(
        host=binds[0],
        port=args.port,
        extra_hosts=binds[1:],
        api_key=args.api_key,
        entity=args.entity,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with double:
        for host in binds:
            print(double.url_for(host), flush=True)
        print(f"WANDB_API_KEY={double.api_key}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
