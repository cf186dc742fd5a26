"""The connection to Ray: a local instance by default, or the cluster ``ray.address`` names.

Ray itself waits about a minute on an address nobody answers at; rlkit first opens a plain TCP
connection with a short timeout, so a typo in ``ray.address`` fails within seconds with a message
that says what was tried.
"""

from __future__ import annotations

import socket
from typing import Any

from omegaconf import DictConfig

from rlkit.errors import UserError

CONNECT_TIMEOUT_S = 3.0
DEFAULT_GCS_PORT = 6379


def _host_and_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; None for ``auto``/``local``."""
    if address in ("auto", "local"):
        return None
    target = address.split("://", 1)[1] if "://" in address else address
    host, _, port = target.rpartition(":")
    if not host:
        host, port = target, str(DEFAULT_GCS_PORT if "://" not in address else 10001)
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise UserError(f"ray.address={address!r} is not an address; allowed: auto, local, host:port, "
                        f"ray://host:port") from None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A UserError within ``timeout`` seconds when nothing listens at ``address``."""
    target = _host_and_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as error:
        raise UserError(
            f"ray.address={address!r} is unreachable ({error.strerror or error}); start a head there "
            f"(`ray start --head`), pass ray.address=auto inside a cluster, or leave ray.address unset "
            f"for a local Ray") from None


def connect(ray_cfg: DictConfig, verbose: int = 0) -> Any:
    """Connect to (or start) Ray as ``ray_cfg`` says; a no-op when already connected (e.g. inside a
    Ray task of a fan-out). Returns the ``ray`` module."""
    import ray

    if ray.is_initialized():
        return ray
    address = ray_cfg.address
    if address is not None:
        check_reachable(str(address))
    # a local instance's workers inherit this process's one-thread settings (rlkit.threads); on a
    # cluster the node config sets them, and every run sets torch's threads itself (cfg.threads)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose > 0}
    if address is None or address == "local":
        # "local" starts a fresh instance even when `ray start` left a cluster on this machine
        options.update(address="local", num_cpus=ray_cfg.num_cpus, num_gpus=ray_cfg.num_gpus)
    else:
        options["address"] = str(address)
        options.pop("include_dashboard")
    from ray.exceptions import AuthenticationError

    try:
        ray.init(**options)
    except (ConnectionError, AuthenticationError) as error:
        raise UserError(f"cannot connect to Ray at ray.address={address!r}: {str(error).splitlines()[0]} (a cluster with token "
                        f"authentication needs its token here: RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
    return ray


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
