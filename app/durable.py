"""Making a file's or a directory's contents survive a power loss."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """``fsync`` the file or directory at ``path``: a directory's, after a file
    in it was created or renamed, makes that name durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
