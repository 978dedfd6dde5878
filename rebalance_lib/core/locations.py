"""Where a path points: the store, the store's authority and the path inside it, so that two
spellings of one place compare equal and two places never do.

- Schemes that name one store are one: ``s3``, ``s3a`` and ``s3n``; ``abfs``, ``abfss``,
  ``wasb`` and ``wasbs`` (an ADLS account is reached through its ``dfs`` and its ``blob``
  endpoint alike), with ``container@account`` as the authority; ``dbfs:/x`` and its FUSE mount
  ``/dbfs/x``; ``file:`` and a bare local path.
- Authorities (a bucket, a container and its account, a name node) are compared, without
  case and without credentials written into them. An empty one (``hdfs:///x``, ``dbfs:/x``)
  is the store's default, which may be any named one: it is taken to overlap them all.
- Paths are compared normalized: ``..`` and ``.`` resolved, repeated and trailing slashes
  dropped.

Pure: the storage layer resolves a local path's symlinks first (``storage/fs.py``).

>>> location("s3n://Raw/events/").contains(location("s3a://raw/events/day=1"))
True
>>> dfs, blob = "abfss://c@acct.dfs.core.windows.net/t", "wasbs://c@acct.blob.core.windows.net/t/"
>>> location(dfs) == location(blob)
True
>>> overlap("dbfs:/mnt/raw", "/dbfs/mnt/raw/events"), overlap("s3a://raw/t", "s3a://curated/t")
(True, False)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import urlsplit

# The store each scheme names; a scheme not listed is a store of its own name.
_STORES = {
    "": "file",
    "file": "file",
    "s3": "s3",
    "s3a": "s3",
    "s3n": "s3",
    "abfs": "azure",
    "abfss": "azure",
    "wasb": "azure",
    "wasbs": "azure",
    "gs": "gs",
    "dbfs": "dbfs",
}
_DBFS_MOUNT = "/dbfs"  # Databricks mounts dbfs:/ here on its drivers


@dataclass(frozen=True)
class Location:
    """A place in a store: ``store`` (``file``, ``s3``, ``azure``, ``gs``, ``dbfs``, or the
    scheme as written), ``authority`` (lower case; empty for the store's default) and an
    absolute, normalized ``path`` (``/`` for the root)."""

    store: str
    authority: str
    path: str

    def contains(self, other: Location) -> bool:
        """True when ``other`` is this place or lies inside it."""
        if self.store != other.store:
            return False
        if self.authority and other.authority and self.authority != other.authority:
            return False
        return other.path == self.path or other.path.startswith(self.path.rstrip("/") + "/")


def location(uri: str) -> Location:
    """The place an absolute path or URI names."""
    parts = urlsplit(uri)
    store = _STORES.get(parts.scheme.lower(), parts.scheme.lower())
    path = posixpath.normpath("/" + parts.path.lstrip("/"))  # normpath keeps a leading "//"
    if store == "file" and (path == _DBFS_MOUNT or path.startswith(_DBFS_MOUNT + "/")):
        store, path = "dbfs", path[len(_DBFS_MOUNT) :] or "/"
    return Location(store, _authority(store, parts.netloc), path)


def overlap(first: str, second: str) -> bool:
    """True when one of two places is the other or lies inside it."""
    a, b = location(first), location(second)
    return a.contains(b) or b.contains(a)


def _authority(store: str, netloc: str) -> str:
    if store == "azure":  # container@account.dfs.core.windows.net: the account's first label
        container, _, host = netloc.rpartition("@")
        return f"{container}@{host.split('.', 1)[0]}".lower()
    return netloc.rpartition("@")[2].lower()  # a bucket once written as key:secret@bucket
