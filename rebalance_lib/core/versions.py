"""The release's own version, the Delta Lake JAR that goes with each supported Spark, and the
S3A JAR that goes with each Hadoop.

Pure Python with no imports of the package, so that a deployment (the Airflow DAG) can load
this one file by its path and name the same JAR as the library does.
"""

from __future__ import annotations

DISTRIBUTION = "spark-rebalance"
VERSION = "0.2.0"

# Spark minor -> the Delta release whose JAR for it rebalance is tested with. Delta publishes one
# artifact per Spark minor (io.delta:delta-spark_<minor>_2.13); 4.4.1's JAR for Spark 4.2 is not
# served, so 4.4.0 it is. A new Spark minor is supported by adding its row here, once tested.
DELTA_FOR_SPARK = {"4.2": "4.4.0"}
SCALA_BINARY = "2.13"


def spark_minor(spark_version: str) -> str:
    """``4.2.1`` -> ``4.2``; a local build's suffix (``4.2.0.dev1``) is ignored."""
    return ".".join(spark_version.split(".")[:2])


def delta_package(spark_version: str) -> str | None:
    """The Maven coordinate of Delta's JAR for this Spark, or None for a Spark not in the table.

    >>> delta_package("4.2.1")
    'io.delta:delta-spark_4.2_2.13:4.4.0'
    >>> delta_package("3.5.3") is None
    True
    """
    minor = spark_minor(spark_version)
    delta = DELTA_FOR_SPARK.get(minor)
    return None if delta is None else f"io.delta:delta-spark_{minor}_{SCALA_BINARY}:{delta}"


def newest_supported_spark() -> str:
    """The newest Spark minor in the table: what a deployment that names none gets."""
    return max(DELTA_FOR_SPARK, key=lambda minor: tuple(int(part) for part in minor.split(".")))


def no_delta_for(spark_version: str) -> str:
    """Why a Spark outside the table has no Delta JAR here, and what to do instead."""
    supported = ", ".join(sorted(DELTA_FOR_SPARK))
    return (
        f"Spark {spark_version} has no Delta JAR in rebalance's table (supported: Spark "
        f"{supported}): install a supported pyspark, or name Delta's JAR yourself with "
        f"spark.jars.packages=io.delta:delta-spark_<spark minor>_{SCALA_BINARY}:<delta version>"
    )


def hadoop_aws_package(hadoop_version: str) -> str:
    """The Maven coordinate of S3A (``s3a://``) for the Hadoop inside a Spark: hadoop-aws of
    that exact version, which brings the AWS SDK bundle its release was built with.

    >>> hadoop_aws_package("3.5.0")
    'org.apache.hadoop:hadoop-aws:3.5.0'
    """
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version}"
