"""Servers the harness starts as contenders (`sweep.servers`), and the served-against-in-process figures."""

from bench.servers.managed import (ENTRY_HELP, KINDS, SERVER_KINDS, ManagedServer, ServerKind, ServerSpec,
                                   ServerStartError, free_port, parse_entry, unavailable)

__all__ = ["ENTRY_HELP", "KINDS", "SERVER_KINDS", "parse_entry", "ManagedServer", "ServerKind", "ServerSpec",
           "ServerStartError", "free_port", "unavailable"]
