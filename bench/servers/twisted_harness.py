"""What the Twisted benchmark servers share with the Node ones (bench/servers/harness.ts): the
command line, the loopback default, the time limit and the "listening" line the runner waits for.

Usage of every Twisted server:
    /usr/bin/python3 -u bench/servers/<name>.py tcp:PORT[:interface=HOST][:backlog=N] [--time-limit=SECONDS]

The endpoint is handed to Twisted's own `serverFromString`, which reads that syntax natively.
There is no memory probe: the idle-memory workload compares Node processes only.
"""
import json
import os
import re
import sys

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString

# How long a server started by hand lives, as in harness.ts.
DEFAULT_TIME_LIMIT_SECONDS = 120


def greeting(count):
    """The Spread server's welcome line as bytes on the wire: the same in every variant."""
    return ("Welcome to Spread Site, you are client number %d!\n" % count).encode("utf-8")


def parse_args(argv, name):
    endpoint = None
    time_limit = DEFAULT_TIME_LIMIT_SECONDS
    try:
        for arg in argv:
            if arg.startswith("--time-limit="):
                time_limit = float(arg[len("--time-limit="):])
            elif endpoint is None:
                endpoint = arg
    except ValueError:
        time_limit = -1
    if endpoint is None or not re.match(r"^tcp:\d+(:[a-zA-Z]+=[^:]+)*$", endpoint) or not time_limit > 0:
        sys.stderr.write(
            "usage: /usr/bin/python3 -u bench/servers/%s.py tcp:PORT[:interface=HOST] [--time-limit=SECONDS]\n"
            % name
        )
        sys.exit(2)
    # Loopback unless told otherwise, like the Node servers.
    if ":interface=" not in endpoint:
        endpoint += ":interface=127.0.0.1"
    return endpoint, time_limit


def _report_listening(port):
    sys.stdout.write(json.dumps({"event": "listening", "port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()


def _fail(failure):
    sys.stderr.write("listen failed: %s\n" % failure.getErrorMessage())
    reactor.stop()


def run(factory, name):
    """Listens with `factory` on the endpoint from the command line, then runs the reactor until
    the time limit or SIGTERM (which Twisted's reactor turns into a clean stop)."""
    endpoint, time_limit = parse_args(sys.argv[1:], name)
    d = serverFromString(reactor, endpoint).listen(factory)
    d.addCallbacks(lambda listening: _report_listening(listening.getHost().port), _fail)
    reactor.callLater(time_limit, reactor.stop)
    reactor.run()
