"""A real Spark Connect server in its own process, as a team would run one: spark-submit of
Spark's SparkConnectServer with Delta, on a free local port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyspark

from rebalance_lib.storage.session import DELTA_CONF, cached_delta_jars, delta_package

STARTUP_TIMEOUT_S = 120.0  # ~15 s on an idle machine; two shared cores can take a lot longer


@dataclass(frozen=True)
class ConnectServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(
        cls, workdir: Path, conf: dict[str, str], env: dict[str, str] | None = None
    ) -> ConnectServer:
        """Start a server on a free port and wait until it listens (or fail with its log);
        ``env`` is added to this process's environment for it."""
        port = free_port()
        spark_home = Path(pyspark.__file__).parent
        jars = cached_delta_jars()
        delta = ["--jars", ",".join(jars)] if jars else ["--packages", delta_package()]
        settings = {
            **DELTA_CONF,
            **conf,
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port),
            "spark.sql.warehouse.dir": str(workdir / "warehouse"),
        }
        command = [
            str(spark_home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            *delta,
            *[arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")],
        ]
        log_path = workdir / "connect-server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, **(env or {}), "SPARK_HOME": str(spark_home)},
                start_new_session=True,
            )
        server = cls(process, f"sc://127.0.0.1:{port}", log_path)
        server._wait_for_port(port)
        return server

    def _wait_for_port(self, port: int) -> None:
        def listens() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until_ready(self.process, self.log_path, "the Connect server", listens)

    def stop(self) -> None:
        """Stop the server (its own process group, by its pid)."""
        stop_process_group(self.process)


def wait_until_ready(
    process: subprocess.Popen[bytes], log_path: Path, name: str, ready: Callable[[], bool]
) -> None:
    """Wait until ``ready()`` holds for a server started in its own process group; fail with
    its log if it exits first, and stop it if it is not ready within the startup bound."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.5)
    stop_process_group(process)
    raise RuntimeError(f"{name} was not ready within {STARTUP_TIMEOUT_S:.0f} s")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End a server's own process group, by its pid: politely, then at once after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
