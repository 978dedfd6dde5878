#!/usr/bin/env bash
# Start or stop a real standalone Spark cluster on 127.0.0.1: one master and N workers
# (1 core each), launched with the spark-class shipped in the pyspark package.
#
#   scripts/local_cluster.sh start      # prints the master URL
#   scripts/local_cluster.sh stop
#
# Settings (environment): RUN_DIR (default .run/cluster), MASTER_PORT (7077), WORKERS (2),
# WORKER_MEMORY (2g), PYTHON (default .venv/bin/python). Pids and logs go under RUN_DIR.
set -euo pipefail

RUN_DIR=${RUN_DIR:-.run/cluster}
MASTER_PORT=${MASTER_PORT:-7077}
WORKERS=${WORKERS:-2}
WORKER_MEMORY=${WORKER_MEMORY:-2g}
PYTHON=${PYTHON:-.venv/bin/python}
MASTER_URL="spark://127.0.0.1:${MASTER_PORT}"

spark_home() {
  "$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

wait_for_line() {  # file, text, seconds
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "local_cluster: '$2' did not appear in $1 within $3 s" >&2
      tail -20 "$1" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

start() {
  if [[ -f "$RUN_DIR/master.pid" ]] && kill -0 "$(cat "$RUN_DIR/master.pid")" 2>/dev/null; then
    echo "local_cluster: already running ($MASTER_URL); stop it first" >&2
    return 1
  fi
  mkdir -p "$RUN_DIR"
  export SPARK_HOME
  SPARK_HOME=$(spark_home)
  export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR="$RUN_DIR" SPARK_WORKER_DIR="$RUN_DIR/work"
  nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$MASTER_PORT" --webui-port 0 \
    >"$RUN_DIR/master.log" 2>&1 &
  echo $! >"$RUN_DIR/master.pid"
  wait_for_line "$RUN_DIR/master.log" "I have been elected leader" 60
  for i in $(seq 1 "$WORKERS"); do
    nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --cores 1 --memory "$WORKER_MEMORY" --webui-port 0 \
      --work-dir "$RUN_DIR/work-$i" "$MASTER_URL" \
      >"$RUN_DIR/worker-$i.log" 2>&1 &
    echo $! >"$RUN_DIR/worker-$i.pid"
  done
  for i in $(seq 1 "$WORKERS"); do
    wait_for_line "$RUN_DIR/worker-$i.log" "Successfully registered with master" 60
  done
  echo "$MASTER_URL"
}

stop() {
  local pid_file pid
  for pid_file in "$RUN_DIR"/worker-*.pid "$RUN_DIR"/master.pid; do
    [[ -f "$pid_file" ]] || continue
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pid_file"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
