"""Limits and settings of one sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .network.policy import NetworkPolicy

MiB = 1 << 20
GiB = 1 << 30


class HostFolderMode(str, Enum):
    """How a host folder (the notebook's folder) appears at ``/workspace``."""

    OFF = "off"
    #: Host files are visible and cannot be changed or deleted; new files land privately.
    READONLY = "readonly"
    #: Host files are visible; changes are copied into the sandbox's private layer.
    OVERLAY = "overlay"


@dataclass(frozen=True)
class Limits:
    """Per-sandbox limits. ``None`` for ``cell_timeout`` means no time limit."""

    memory_bytes: int = 2 * GiB
    output_bytes: int = 8 * MiB
    cell_timeout: float | None = None
    #: After a soft ``TimeoutError``, how long the guest may take to stop before a hard stop.
    timeout_grace: float = 3.0
    workspace_bytes: int = 1 * GiB
    workspace_files: int = 20_000
    #: Named snapshots (``%snapshot save``) the sandbox may keep, and their total size on disk.
    snapshot_max_count: int = 20
    snapshot_max_bytes: int = 1 * GiB
    #: Processes (``subprocess``, ``!python``, the commands API) running at once.
    max_processes: int = 8
    #: The most memory one process may grow to (within what ``memory_bytes`` leaves free).
    process_memory_bytes: int = 256 * MiB
    #: Output one process's log keeps (the commands API's logs); the rest is dropped.
    process_log_bytes: int = 16 * MiB

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "output_bytes", "workspace_bytes", "workspace_files",
                     "snapshot_max_count", "snapshot_max_bytes", "max_processes",
                     "process_memory_bytes", "process_log_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.memory_bytes < 64 * MiB:
            raise ValueError("Limits.memory_bytes must be at least 64 MiB to start Python")
        if self.cell_timeout is not None and self.cell_timeout <= 0:
            raise ValueError("Limits.cell_timeout must be positive or None")


@dataclass(frozen=True)
class PackagePolicy:
    """What ``%pip install`` may do in a sandbox (pure-Python wheels only, fetched by the host).

    Names are compared normalised (``Foo_Bar`` = ``foo-bar``).
    """

    #: False turns ``%pip install``/``uninstall`` off (``%pip list`` still works).
    enabled: bool = True
    #: The index pip uses; None: pip's own configuration on the host (pip.conf, PIP_*).
    index_url: str | None = None
    #: When not empty, only these packages (and no dependency outside it) may be installed.
    allow: tuple[str, ...] = ()
    #: Packages that may never be installed, neither asked for nor as a dependency.
    deny: tuple[str, ...] = ()
    #: May notebook code name where the host downloads from (``-i``, ``--extra-index-url``,
    #: ``-f URL``, ``NAME @ URL``)? None (the default): only when the administrator chose
    #: neither an index nor an allow list; True/False: always/never. The host fetches such
    #: URLs itself, so allowing them lets notebook code make the host send requests.
    user_indexes: bool | None = None

    def allows_user_indexes(self) -> bool:
        """Whether ``%pip`` accepts index and download URLs given by notebook code."""
        if self.user_indexes is not None:
            return self.user_indexes
        return self.index_url is None and not self.allow


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes a new sandbox."""

    limits: Limits = field(default_factory=Limits)
    #: A host folder shown at /workspace (the notebook's folder), or None.
    host_folder: Path | None = None
    host_folder_mode: HostFolderMode = HostFolderMode.OVERLAY
    #: Where the sandbox keeps its private writable layers; a temporary folder when None
    #: (then removed on close).
    state_dir: Path | None = None
    #: Extra environment variables for the guest.
    env: dict[str, str] = field(default_factory=dict)
    #: Keep a recovery point (memory taken while idle) so a cell that kills the interpreter
    #: costs only that cell. Costs memory up to the guest's changed pages.
    recovery_points: bool = True
    #: Where ``%snapshot save NAME`` keeps named snapshots; inside ``state_dir`` when None.
    snapshot_dir: Path | None = None
    #: The secret that signs this sandbox's snapshots and checks those it restores (created on
    #: first use, mode 0600); None: ``snapshot_signing.default_key_path()`` (the
    #: jupyter-sandbox data dir). The kernel passes one in Jupyter's data dir.
    snapshot_key_file: Path | None = None
    #: What ``%pip install`` may add to the sandbox.
    packages: PackagePolicy = field(default_factory=PackagePolicy)
    #: Which connections the guest may open through the host's broker (off by default).
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
