"""A real S3 API server in its own process and virtualenv (``make s3-env``): moto's standalone
server on a free local port, and boto3 beside it to see what the bucket holds, as a user's
``aws s3`` would.

Spark reaches it through S3A (hadoop-aws, fetched by ``make setup-test``) with the settings of
``spark_conf``: path-style requests to the local endpoint, over plain HTTP, with test keys.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from connect_server import stop_process_group, wait_until_ready

S3_BIN = Path(__file__).parents[1] / ".venv-s3" / "bin"
_OBJECTS = Path(__file__).with_name("s3_objects.py")
ACCESS_KEY = SECRET_KEY = "testing"
REGION = "us-east-1"


def spark_conf(port: int) -> dict[str, str]:
    """The S3A settings of a Spark that talks to the server on ``port``."""
    return {
        "spark.hadoop.fs.s3a.endpoint": f"http://127.0.0.1:{port}",
        "spark.hadoop.fs.s3a.endpoint.region": REGION,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.access.key": ACCESS_KEY,
        "spark.hadoop.fs.s3a.secret.key": SECRET_KEY,
        # A test server answers at once or not at all: fail in seconds, not after minutes.
        "spark.hadoop.fs.s3a.attempts.maximum": "2",
        "spark.hadoop.fs.s3a.retry.limit": "2",
    }


@dataclass(frozen=True)
class S3Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, port: int) -> S3Server:
        """Start moto's server on ``port`` and wait until it answers (or fail with its log)."""
        assert (S3_BIN / "moto_server").exists(), "no .venv-s3: run `make s3-env`"
        log_path = workdir / "s3-server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(S3_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
            )
        server = cls(process, port, log_path)
        wait_until_ready(process, log_path, "the S3 server", server._answers)
        return server

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def objects(self, *command: str) -> object:
        """``s3_objects.py`` run with boto3 against this server: its JSON answer."""
        finished = subprocess.run(
            [str(S3_BIN / "python"), str(_OBJECTS), self.url, *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": REGION,
            },
        )
        assert finished.returncode == 0, finished.stderr
        return json.loads(finished.stdout)

    def make_bucket(self, bucket: str) -> None:
        self.objects("make-bucket", bucket)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = self.objects("keys", bucket, prefix)
        assert isinstance(found, list)
        return [str(key) for key in found]

    def get(self, bucket: str, key: str) -> str:
        return str(self.objects("get", bucket, key))

    def stop(self) -> None:
        """Stop the server (its own process group, by its pid)."""
        stop_process_group(self.process)
