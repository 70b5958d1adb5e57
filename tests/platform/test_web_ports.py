"""A web server is alone on its port, and a sandbox holds the ports it hands
out until their servers start: two servers dealt one port's requests
between them answered half a module's calls with the other's 404."""
import errno
import socket

import pytest
import requests
from nameko.containers import ServiceContainer

from onewindow.entrypoints import http
from onewindow.sandbox import reserve_port


class Answering:
    name = "answering"

    @http("GET", "/which")
    def which(self, request):
        return "answering"


def container_on(port):
    return ServiceContainer(Answering, {"WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})


def test_a_second_server_on_a_served_port_fails_to_start():
    held = reserve_port()
    port = held.getsockname()[1]
    first = container_on(port)
    first.start()
    try:
        assert requests.get(f"http://127.0.0.1:{port}/which", timeout=10).text == "answering"
        second = container_on(port)
        with pytest.raises(OSError) as raised:
            second.start()
        assert raised.value.errno == errno.EADDRINUSE
        second.kill()
    finally:
        first.stop()
        held.close()


def test_a_held_port_is_refused_to_others_and_open_to_its_server():
    held = reserve_port()
    port = held.getsockname()[1]
    try:
        other = socket.socket()  # what a bind to port 0 or a connect would need
        with pytest.raises(OSError) as raised:
            other.bind(("127.0.0.1", port))
        other.close()
        assert raised.value.errno == errno.EADDRINUSE
        server = container_on(port)
        server.start()
        try:
            assert requests.get(f"http://127.0.0.1:{port}/which", timeout=10).text == "answering"
        finally:
            server.stop()
        server = container_on(port)  # and again, as a restarted service
        server.start()
        server.kill()
        server = container_on(port)  # and after a kill
        server.start()
        server.stop()
    finally:
        held.close()
