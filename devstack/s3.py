"""The local S3 server devstack starts when no MEDIA_S3_ENDPOINT is given: the one place that
chooses it. Ephemeral stacks (tests, bench, chaos) get moto's server, in memory; `make run` gets
s3rver (npm, pinned in devstack/s3rver/package-lock.json) with its objects on disk, so a photo
attached to an appeal is still there after a restart, like the appeal itself (docs/media.md)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# `make run` installs it (`npm ci` in devstack/s3rver, the Makefile's S3RVER target).
S3RVER = Path(__file__).resolve().parent / "s3rver" / "node_modules" / ".bin" / "s3rver"
# s3rver 3.7.1 knows one account, hard-coded (lib/models/account.js), with no option to change
# it: any other access key id is answered InvalidAccessKeyId. moto accepts any key pair.
S3RVER_KEYS = ("S3RVER", "S3RVER")
MOTO_KEYS = ("devstack", "devstack-secret")


@dataclass(frozen=True)
class LocalS3:
    """One local S3 server on 127.0.0.1:`port`: s3rver keeping objects under `directory` when
    one is given, else moto holding them in memory (gone when the process stops)."""

    port: int
    directory: Path | None = None

    @property
    def name(self) -> str:
        return "moto" if self.directory is None else "s3rver"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys(self) -> tuple[str, str]:
        """(access key, secret key) the server accepts."""
        return MOTO_KEYS if self.directory is None else S3RVER_KEYS

    def argv(self) -> list[str]:
        """The command line that starts the server in the foreground.

        Raises FileNotFoundError when s3rver is wanted but not installed (`make run` installs it).
        """
        if self.directory is None:
            return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        if not S3RVER.exists():
            raise FileNotFoundError(f"{S3RVER} is missing: run `make run` (it runs npm ci there)")
        # s3rver creates the directory; objects are files there (<bucket>/<key>._S3rver_object).
        # --silent: its request log would write every signed link (valid for minutes) to
        # log/s3.log; start-up errors (a taken port) are still printed there.
        return [
            str(S3RVER),
            *("--directory", str(self.directory)),
            *("--address", "127.0.0.1", "--port", str(self.port)),
            "--silent",
        ]
