"""The one place that touches the Hugging Face hub (DESIGN §2).

A name that is a local folder is used as is. Anything else is read as a hub id and fetched only
when the user allows the network: ``HF_HUB_OFFLINE=1`` (or ``allow_network=False``) turns that
into a one-line error that names the fix. Nothing else in the package imports ``huggingface_hub``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Optional, Sequence

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_OFF = {"1", "true", "yes", "on"}


class HubError(ValueError):
    """A hub id cannot be resolved; the message says why and how to fix it."""


def offline() -> bool:
    """Whether the user forbade the network (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().lower() in _OFF for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def is_hub_id(name: str) -> bool:
    """``owner/name`` (or a bare name) that is not an existing path."""
    return not Path(name).exists() and bool(_HUB_ID.match(str(name))) and not str(name).startswith(".")


def resolve_model(name_or_dir: str | os.PathLike, what: str = "model",
                  allow_network: Optional[bool] = None, revision: Optional[str] = None) -> Path:
    """A local folder for ``name_or_dir``: the folder itself, the hub cache's copy, or a download.

    ``allow_network=None`` follows ``HF_HUB_OFFLINE``; with the network off, a hub id already in
    the local cache still resolves.
    """
    path = Path(name_or_dir)
    if path.exists():
        if not path.is_dir():
            raise HubError(f"{path}: is a file, expected a {what} folder (with config.json) or a hub id")
        return path
    name = str(name_or_dir)
    if not is_hub_id(name):
        raise HubError(f"{name}: no such {what} folder, and not a hub id (owner/name); check the path")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise HubError(f"{name}: a hub id needs huggingface_hub; pip install huggingface_hub "
                       "or give a local folder") from None
    net = (not offline()) if allow_network is None else bool(allow_network)
    try:
        local = snapshot_download(name, revision=revision, local_files_only=not net)
    except Exception as exc:  # huggingface_hub raises many types (offline, 404, gated, auth)
        if not net:
            raise HubError(f"{name}: {what} not in the local hub cache and the network is off (HF_HUB_OFFLINE); "
                           "unset HF_HUB_OFFLINE to download it, or give a local folder") from None
        raise HubError(f"{name}: cannot download the {what} ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:120]}); check the id and your access") from None
    log.info("%s %s resolved to %s", what, name, local)
    return Path(local)


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_repo_id(name: str) -> bool:
    """``owner/name`` that is not an existing path (the released checkpoints' form)."""
    return bool(_REPO_ID.match(str(name))) and not Path(str(name)).exists()


def local_folder(name: str | os.PathLike, what: str, allow_download: bool = False,
                 allow_patterns: Optional[Sequence[str]] = None) -> Path:
    """``name`` as a local folder for weights the user must ask to download (the ws2 checkpoints,
    tens of GB): itself when it exists, else a hub download only with ``allow_download`` and the
    network allowed."""
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
