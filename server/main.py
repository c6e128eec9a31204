"""``eamm-server [--host 127.0.0.1] [--port 8765] [--data DIR] [--allow-remote] [--watch-stdin]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from server import __version__
from server.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MiB,
    ServerConfig,
    default_data_dir,
    default_token_file,
    is_loopback,
)

log = logging.getLogger("eamm.server")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eamm-server", description="Local EAMM inference server (docs/server.md).")
    p.add_argument("--version", action="version", version=f"eamm-server {__version__}")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (loopback only unless --allow-remote)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--data", type=Path, default=None, help=f"data folder (default {default_data_dir()})")
    env_cache = os.environ.get("EAMM_SERVER_CACHE")
    p.add_argument("--cache", type=Path, default=Path(env_cache) if env_cache else None,
                   help="stage cache folder (default $EAMM_SERVER_CACHE, else <data>/cache; the CLI's is "
                   "$EAMM_CACHE or ~/.cache/eamm)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding a non-loopback address (anyone who has the token can then run jobs)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="with --allow-remote: another Host header name to accept (repeatable)")
    p.add_argument("--max-upload-mb", type=float, default=1024, help="largest upload accepted (MiB)")
    p.add_argument("--device", action="append", default=None, metavar="DEV",
                   help="run workers on these devices (cpu, cuda:0, ...; repeatable; default: every GPU, else cpu)")
    p.add_argument("--watch-stdin", action="store_true",
                   help="stop when stdin reaches its end or reads a line 'stop' (a server started by "
                        "Blender dies with it)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(data_dir=(args.data or default_data_dir()).expanduser().resolve(),
                        token_file=default_token_file(), host=args.host, port=args.port,
                        allow_remote=args.allow_remote, extra_hosts=tuple(args.allowed_host),
                        max_upload_bytes=int(args.max_upload_mb * MiB),
                        devices=tuple(args.device) if args.device else None,
                        cache_dir=args.cache.expanduser().resolve() if args.cache else None)


def _uvicorn_server(config, on_exit):
    """uvicorn's server, told to stop running jobs as soon as a stop signal arrives (they end
    ``interrupted``, resumable) rather than only after open connections have closed."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            on_exit()
            super().handle_exit(sig, frame)

    return Server(config)


def _watch_stdin(server, on_exit, grace_s: float = 10.0) -> None:
    """Stop the server at a ``stop`` line or the end of stdin (the parent has gone); a server that
    has not stopped ``grace_s`` later is ended outright."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    log.info("stdin closed or 'stop' received: stopping")
    on_exit()
    server.should_exit = True  # as a stop signal does, without re-raising the signal at exit
    time.sleep(grace_s)
    log.warning("did not stop within %.0f s: exiting", grace_s)
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s eamm-server: %(message)s")
    if not is_loopback(args.host) and not args.allow_remote:
        log.error("refusing to bind %s: it is not a loopback address. The server runs jobs for anyone who "
                  "can reach it; use --host 127.0.0.1, or add --allow-remote if you really mean it", args.host)
        return 2
    if not 0 < args.port < 65536:
        log.error("--port must be between 1 and 65535")
        return 2
    if not is_loopback(args.host):
        log.warning("WARNING: listening on %s (not loopback): anyone on the network who has the token can use "
                    "this server", args.host)
    import uvicorn

    from server.app import create_app
    from server.auth import load_or_create_token
    from server.datalock import DataFolderInUse, acquire

    config = config_from_args(args)
    shown = f"[{config.host}]" if ":" in config.host else config.host
    try:  # before anything reads the jobs: a second server must not mark the first one's jobs interrupted
        lock_fd = acquire(config.data_dir, f"http://{shown}:{config.port}")  # held until the process ends
    except DataFolderInUse as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("cannot use the data folder %s: %s: choose another --data", config.data_dir, exc.strerror or exc)
        return 2
    token, created = load_or_create_token(config.token_file)
    app = create_app(config, token)
    log.info("eamm-server %s: http://%s:%d (data in %s)", __version__, shown, config.port, config.data_dir)
    log.info("token file: %s", config.token_file)
    if created:
        log.info("new token (stored in the token file; shown only this once): %s", token)
    server = _uvicorn_server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                           timeout_graceful_shutdown=3, lifespan="on"), app.ctx.manager.close)
    if args.watch_stdin:
        threading.Thread(target=_watch_stdin, args=(server, app.ctx.manager.close), name="eamm-stdin-watch", daemon=True).start()
    try:
        server.run()
    except OSError as exc:
        log.error("could not listen on %s:%d: %s", config.host, config.port, exc.strerror or exc)
        return 1
    finally:
        os.close(lock_fd)
    return 0 if server.started else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
