"""A protocol-level double of wandb's server for tests (see README.md)."""

from .server import GraphQLError, WandbDouble, operation_name
from .state import Agent, Call, Run, Sweep

__all__ = ["Agent", "Call", "GraphQLError", "Run", "Sweep", "WandbDouble", "operation_name"]
