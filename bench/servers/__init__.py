"""Servers the harness starts as contenders (`sweep.servers`), and the served-against-in-process figures."""

from bench.servers.managed import KINDS, ManagedServer, ServerSpec, ServerStartError, free_port, unavailable

__all__ = ["KINDS", "ManagedServer", "ServerSpec", "ServerStartError", "free_port", "unavailable"]
