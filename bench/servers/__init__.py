"""Servers the harness starts as contenders (`sweep.servers`), and the served-against-in-process figures."""

from bench.servers.managed import (ENTRY_HELP, KINDS, ManagedServer, ServerSpec, ServerStartError, free_port,
                                   parse_entry, unavailable)

__all__ = ["ENTRY_HELP", "KINDS", "parse_entry", "ManagedServer", "ServerSpec", "ServerStartError", "free_port", "unavailable"]
