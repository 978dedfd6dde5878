"""spark-submit entry point: the same code path as the `rebalance` command.

    spark-submit --packages io.delta:delta-spark_4.2_2.13:4.4.0 \
        --py-files dist/rebalance-0.1.0-py3-none-any.whl \
        jobs/rebalance_job.py run --config conf/default.yaml --input ... --output ...
"""

import sys

from rebalance_lib.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
