"""The local document store: mongoeco's MongoDB wire-protocol server over its SQLite engine.

Runs under its own interpreter (Python 3.13, `.venv-store`, made by `devstack.docstore`), so it
imports nothing from this project. Every database and collection lives in one SQLite file (WAL
journal): a commit survives a kill -9 of this process. Prints `ready <host>:<port>` once it
accepts connections; SIGTERM / SIGINT close it cleanly.

Usage: python docstore_server.py --path var/store/store.sqlite --port 27017
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import docstore_dispatch  # beside this file: the server runs as a script
import docstore_patch
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

# mongoeco runs every engine operation in a worker thread, over the engine's one SQLite connection,
# the writes under its one lock: its default pool (CPU count + 4 threads) adds no parallelism here,
# only hand-offs between threads waiting for that lock and the GIL. One worker: 15 % less of the
# store's CPU per command alone, and in the bench 7 % less store CPU per appeal and 10 % more
# appeals a second (docs/store.md, "One worker thread"). No engine operation waits for another.
ENGINE_WORKERS = 1


async def serve(path: Path, host: str, port: int) -> None:
    docstore_patch.apply()
    docstore_dispatch.apply()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = SQLiteEngine(str(path), executor_workers=ENGINE_WORKERS)
    server = AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
    address = await server.start()
    print(f"ready {address.host}:{address.port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, required=True, help="the SQLite file holding every database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    args = parser.parse_args()
    asyncio.run(serve(args.path, args.host, args.port))


if __name__ == "__main__":
    main()
