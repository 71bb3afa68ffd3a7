"""openacm's own authoritative DNS server for its validation zone (`serve --dns-listen`).

It answers only for that zone (REFUSED for any other name, so it is no open resolver and
no amplifier for foreign names): SOA and NS at the apex, and the TXT answers of pending ACME
DNS-01 challenges, read from the store at each query so every openacm process's answers are
served. UDP and TCP (RFC 7766), one thread each, plus one thread per TCP connection.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger("openacm.dns")
TTL = 60
# The SOA minimum is the negative-caching TTL (RFC 2308): short, since an answer missing now
# is published a moment later.
SOA_TEMPLATE = "{ns} hostmaster.{zone} 1 3600 600 86400 5"
MAX_UDP_ANSWER = 512


class ZoneResponder:
    """The answers; `txt_values(owner)` gives the TXT values published at an owner name."""

    def __init__(
        self, zone: str, txt_values: Callable[[str], Sequence[str]], ns_name: str = ""
    ) -> None:
        self.zone = dns.name.from_text(zone, origin=dns.name.root)
        self.ns = dns.name.from_text(ns_name or f"ns.{zone}", origin=dns.name.root)
        self.txt_values = txt_values

    def answer(self, wire: bytes) -> bytes | None:
        """The response to a query in wire form; None for what is not a query at all."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.flags & dns.flags.QR or len(query.question) != 1:
            return None
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name
        if question.rdclass != dns.rdataclass.IN or not name.is_subdomain(self.zone):
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        response.flags |= dns.flags.AA
        found = self._records(name, question.rdtype)
        if found is not None:
            response.answer.append(found)
        else:
            if name != self.zone and not self.txt_values(_owner(name)):
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
        return response.to_wire()

    def _records(self, name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
        if name == self.zone and rdtype == dns.rdatatype.SOA:
            return self._soa()
        if name == self.zone and rdtype == dns.rdatatype.NS:
            return dns.rrset.from_text(name, TTL, "IN", "NS", self.ns.to_text())
        if rdtype == dns.rdatatype.TXT:
            values = self.txt_values(_owner(name))
            if values:
                quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
                return dns.rrset.from_text_list(name, TTL, "IN", "TXT", quoted)
        return None

    def _soa(self) -> dns.rrset.RRset:
        rdata = SOA_TEMPLATE.format(ns=self.ns.to_text(), zone=self.zone.to_text())
        return dns.rrset.from_text(self.zone, TTL, "IN", "SOA", rdata)


def _owner(name: dns.name.Name) -> str:
    """How the store keys an owner: lowercase, with the final dot."""
    return name.to_text().lower()


class _Udp(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.responder.answer(data)
        if reply is None:
            return
        if len(reply) > MAX_UDP_ANSWER:  # too big for plain UDP: the client retries over TCP
            message = dns.message.from_wire(reply)
            message.answer.clear()
            message.flags |= dns.flags.TC
            reply = message.to_wire()
        sock.sendto(reply, self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while True:  # several queries may share a connection (RFC 7766 §6.2.1)
                header = _read_exactly(self.request, 2)
                if header is None:
                    return
                data = _read_exactly(self.request, struct.unpack("!H", header)[0])
                if data is None:
                    return
                reply = self.server.responder.answer(data)
                if reply is None:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], responder: ZoneResponder) -> None:
        super().__init__(address, _Udp)
        self.responder = responder


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], responder: ZoneResponder) -> None:
        super().__init__(address, _Tcp)
        self.responder = responder


class DnsListener:
    """The responder on one address and port, over UDP and TCP, in background threads."""

    def __init__(self, host: str, port: int, responder: ZoneResponder) -> None:
        self.tcp = _TcpServer((host, port), responder)
        # Port 0 picks a port: UDP takes the one TCP got.
        self.udp = _UdpServer((host, self.tcp.server_address[1]), responder)
        self._threads = [
            threading.Thread(target=server.serve_forever, name=f"openacm-dns-{kind}", daemon=True)
            for kind, server in (("udp", self.udp), ("tcp", self.tcp))
        ]

    @property
    def port(self) -> int:
        return int(self.tcp.server_address[1])

    def start(self) -> DnsListener:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()
