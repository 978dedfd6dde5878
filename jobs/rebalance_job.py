"""spark-submit entry point: the same code path as the `rebalance` command.

    spark-submit --packages "$(rebalance delta-package)" \
        --py-files dist/spark_rebalance-*-py3-none-any.whl \
        jobs/rebalance_job.py run --config conf/default.yaml --input ... --output ...

The driver needs only pyspark (the cluster's own, with or without pip's metadata), pydantic
and PyYAML; Delta's JAR comes from --packages (`rebalance delta-package` names the one for
a Spark version).
"""

import sys

from rebalance_lib.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
