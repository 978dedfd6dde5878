"""What an S3 bucket holds, through boto3, for the tests (run by ``s3_server.py`` with the
S3 virtualenv's Python): ``ENDPOINT make-bucket B``, ``ENDPOINT keys B [PREFIX]``,
``ENDPOINT get B KEY``, ``ENDPOINT put B KEY FILE``; the answer is JSON on stdout."""

from __future__ import annotations

import json
import sys

import boto3  # type: ignore[import-not-found]  # in .venv-s3 only


def main(endpoint: str, command: str, bucket: str, *rest: str) -> object:
    client = boto3.client("s3", endpoint_url=endpoint)
    if command == "make-bucket":
        client.create_bucket(Bucket=bucket)
        return bucket
    if command == "keys":
        prefix = rest[0] if rest else ""
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    if command == "get":
        return client.get_object(Bucket=bucket, Key=rest[0])["Body"].read().decode()
    if command == "put":
        key, file = rest
        with open(file, "rb") as body:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        return key
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
