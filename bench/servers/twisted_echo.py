"""Echo with Twisted, as a Twisted user would write it (Twisted's own echoserv.py): write back
whatever arrives. The Twisted column of the echo workload.

Unlike test/fixtures/echo_server.py (the seed's port), it neither prints each message nor closes
the connection after the first one: that is logging and protocol, not echo.

Run on its own: /usr/bin/python3 -u bench/servers/twisted_echo.py tcp:PORT [--time-limit=SECONDS]
"""
import sys

from twisted.internet.protocol import Factory, Protocol

sys.dont_write_bytecode = True  # no __pycache__ beside the servers when run by hand
import twisted_harness  # noqa: E402 (the module beside this file)


class Echo(Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


class EchoFactory(Factory):
    protocol = Echo


if __name__ == "__main__":
    twisted_harness.run(EchoFactory(), "twisted_echo")
