"""The Spread server with Twisted, as test/fixtures/spread_server.py (the seed's port) is written:
count and greet each client, keep the clients in a list, and forward what a client sends to every
other client with `client.transport.write(data)`, one write per received chunk per receiver, as
the seed forwards its `close`. The Twisted column of the fan-out and connection-rate workloads.

Differences from the fixture, for the benchmark: it forwards every chunk (the seed only prints
them, and forwards just `close`), prints nothing per connection or message, greets in English with
the same bytes as the Node servers, and sets TCP_NODELAY like them.

Run on its own: /usr/bin/python3 -u bench/servers/twisted_spread.py tcp:PORT [--time-limit=SECONDS]
"""
import sys

from twisted.internet.protocol import Factory, Protocol

sys.dont_write_bytecode = True  # no __pycache__ beside the servers when run by hand
import twisted_harness  # noqa: E402 (the module beside this file)


class Spreader(Protocol):
    def __init__(self, factory):
        self.factory = factory

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.factory.numProtocols = self.factory.numProtocols + 1
        self.factory.clients.append(self)
        self.transport.write(twisted_harness.greeting(self.factory.numProtocols))

    def connectionLost(self, reason):
        self.factory.numProtocols = self.factory.numProtocols - 1
        self.factory.clients.remove(self)

    def dataReceived(self, data):
        for client in self.factory.clients:
            if client is not self:
                client.transport.write(data)


class SpreadFactory(Factory):
    def __init__(self):
        self.numProtocols = 0
        self.clients = []

    def buildProtocol(self, addr):
        return Spreader(self)


if __name__ == "__main__":
    twisted_harness.run(SpreadFactory(), "twisted_spread")
