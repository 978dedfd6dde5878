"""A real MLflow tracking server in its own process and virtualenv (``make mlflow-env``), as a
team would run one: ``mlflow server`` with a SQLite backend, serving its artifacts over HTTP
from a local folder, on a free local port."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from connect_server import free_port, stop_process_group, wait_until_ready

MLFLOW_BIN = Path(__file__).parents[1] / ".venv-mlflow" / "bin"


@dataclass(frozen=True)
class MlflowServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(cls, workdir: Path) -> MlflowServer:
        """Start a server on a free port and wait until it answers (or fail with its log)."""
        assert (MLFLOW_BIN / "mlflow").exists(), "no .venv-mlflow: run `make mlflow-env`"
        port = free_port()
        command = [
            str(MLFLOW_BIN / "mlflow"),
            "server",
            *["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            *["--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"],
            *["--artifacts-destination", str(workdir / "artifacts")],
        ]
        log_path = workdir / "mlflow-server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={
                    **os.environ,
                    "PATH": f"{MLFLOW_BIN}:{os.environ['PATH']}",
                    # Tracking only: no job runner polling its queue beside the server.
                    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                },
                start_new_session=True,
            )
        server = cls(process, f"http://127.0.0.1:{port}", log_path)
        server._wait_until_healthy()
        return server

    def _wait_until_healthy(self) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    return bool(answer.status == 200)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_until_ready(self.process, self.log_path, "the MLflow server", healthy)

    def stop(self) -> None:
        """Stop the server (its own process group, by its pid)."""
        stop_process_group(self.process)
