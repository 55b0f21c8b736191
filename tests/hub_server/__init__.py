"""A loopback Hugging Face Hub for tests: :class:`HubServer` and the ``hub`` fixture (test modules take it
as ``hub = hub_server.hub``). Storage and the API's operations are in :mod:`tests.hub_server.storage`,
HTTP in :mod:`tests.hub_server.server`, the card checks in :mod:`tests.hub_server.cards`."""

from tests.hub_server.server import HubServer, hub

__all__ = ["HubServer", "hub"]
