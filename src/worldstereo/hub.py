"""The one place that may reach the Hugging Face hub: turning a repo id into a local folder.

A local path is used as it is. A hub id is fetched only when the caller allows the network
(``allow_download=True``, the CLI's ``--allow-download``) and ``HF_HUB_OFFLINE`` is not set; otherwise the
answer is one line saying how to get the files. Nothing else in the project downloads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Sequence

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubError(ValueError):
    """A hub id that may not or cannot be fetched."""


def looks_like_repo_id(name: str) -> bool:
    return bool(_REPO_ID.match(str(name))) and not Path(str(name)).exists()


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def local_folder(name: str | os.PathLike, what: str, allow_download: bool = False,
                 allow_patterns: Optional[Sequence[str]] = None) -> Path:
    """``name`` as a local folder: itself when it exists, else a hub download when allowed."""
    path = Path(name)
    if path.exists():
        return path
    if not looks_like_repo_id(str(name)):
        raise FileNotFoundError(f"{what} {path} does not exist: pass an existing folder or a hub id (owner/name)")
    if not allow_download:
        raise HubError(f"{what} {name!r} is not a local folder: download it first (huggingface-cli download {name}) "
                       "and pass the folder, or add --allow-download")
    if offline():
        raise HubError(f"{what} {name!r} needs a download but HF_HUB_OFFLINE is set: unset it or pass a local folder")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=str(name), allow_patterns=list(allow_patterns) if allow_patterns else None))
