"""Files only their owner may read: credentials, keys, the server configuration."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed; the directory itself is made 0700."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`, mode 0600 from the start (never readable by others, not
    even for a moment), replacing the file atomically."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path
