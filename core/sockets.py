"""The kernel's view of this process's TCP connections (Linux ``sock_diag`` over netlink).

A tracked stream knows its connection only by the ASGI scope's ``client`` and ``server``
addresses: the server's transport (and so the socket) is not part of the ASGI surface.
The kernel's socket table is keyed by the same four values, and it knows what the
server cannot see from user space:

* ``bytes_acked``: bytes of this connection the client's TCP stack has acknowledged
  (``tcp_info.tcpi_bytes_acked``), i.e. what the client actually took;
* ``queued``: bytes written to the socket and not acknowledged yet (unsent + in flight);
* ``inode``: the socket's inode, which finds our own file descriptor for it in
  ``/proc/self/fd`` (used to abort a connection whose client stopped reading).

:class:`SocketTable` reads all of it with ONE netlink dump per address family (one
``read()`` for every stream of a flush, never a syscall per stream). Elsewhere (not
Linux, no netlink, a sandbox without ``sock_diag``) :attr:`SocketTable.available` turns
False after the first failed read and callers fall back to what they measured before.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
import sys
from typing import NamedTuple

__all__ = ["Key", "TcpState", "SocketTable", "key_for", "abort_connection"]

log = logging.getLogger("sse")

# (local address as 16 bytes, local port, remote address as 16 bytes, remote port);
# IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), so a dual-stack socket and a
# plain IPv4 socket give the same key for the same peer.
Key = tuple[bytes, int, bytes, int]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_INET_DIAG_INFO = 2
# states a live stream's socket can be in: ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, LAST_ACK
_STATES = (1 << 1) | (1 << 4) | (1 << 8) | (1 << 9)
_TCPI_BYTES_ACKED = 120  # offset of tcpi_bytes_acked (u64) in struct tcp_info (Linux >= 4.1)
_V4_PREFIX = b"\0" * 10 + b"\xff\xff"
_HDR = struct.Struct("=IHHII")  # nlmsghdr
_U16 = struct.Struct("=HH")  # rtattr len, type
_HDR2 = struct.Struct("=IH")  # nlmsghdr length, type
# inet_diag_msg: state, sport, dport (network order: swapped below), src, dst,
# [if, cookie, expires, rqueue], wqueue, [uid], inode
_MSG = struct.Struct("=xB2xHH16s16s20xI4xI")
_SWAP = sys.byteorder == "little"
_OP = struct.Struct("=BBH")  # inet_diag_bc_op
_INET_DIAG_REQ_BYTECODE = 1
_BC_S_GE, _BC_S_LE = 2, 3
_U64 = struct.Struct("=Q")


class TcpState(NamedTuple):
    """One connection as the kernel sees it (see the module docstring)."""

    bytes_acked: int | None  # None: the kernel did not report tcp_info
    queued: int
    inode: int
    state: int


def _packed(host: str) -> bytes | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return _V4_PREFIX + ip.packed if ip.version == 4 else ip.packed


def key_for(server: tuple[str, int] | list | None, client: tuple[str, int] | list | None) -> Key | None:
    """The socket-table key of an ASGI scope's ``server`` / ``client`` pair (None when
    either is missing or not an IP address: a Unix socket, a proxy-rewritten client)."""
    if not server or not client or len(server) < 2 or len(client) < 2:
        return None
    local, remote = _packed(str(server[0])), _packed(str(client[0]))
    if local is None or remote is None:
        return None
    try:
        return (local, int(server[1]), remote, int(client[1]))
    except (TypeError, ValueError):
        return None


class SocketTable:
    """Reads the kernel's TCP socket table (both families) in one dump each."""

    def __init__(self) -> None:
        self.available: bool = sys.platform.startswith("linux")
        self._seq = 0

    def read(self, local_ports: set[int]) -> dict[Key, TcpState]:
        """TCP connections whose local port is in ``local_ports``. Empty (and
        :attr:`available` False from then on) when the kernel cannot be asked."""
        if not self.available or not local_ports:
            return {}
        out: dict[Key, TcpState] = {}
        want = {p.to_bytes(2, "big") for p in local_ports}
        try:
            with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
                for family in (socket.AF_INET, socket.AF_INET6):
                    self._dump(nl, family, want, out)
        except OSError as exc:
            self.available = False
            log.info("SSE socket table unavailable (%s): liveness falls back to bytes handed to the server", exc)
            return {}
        return out

    def _dump(self, nl: socket.socket, family: int, want: set[bytes], out: dict[Key, TcpState]) -> None:
        self._seq += 1
        req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1), 0, _STATES) + b"\0" * 48
        bc = _port_filter(sorted(int.from_bytes(p, "big") for p in want))
        req += _U16.pack(4 + len(bc), _INET_DIAG_REQ_BYTECODE) + bc
        nl.send(_HDR.pack(_HDR.size + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, self._seq, 0) + req)
        v4 = family == socket.AF_INET
        unpack_hdr, unpack_msg, unpack_attr, unpack_u64 = _HDR2.unpack_from, _MSG.unpack_from, _U16.unpack_from, _U64.unpack_from
        while True:
            data = nl.recv(1 << 18)
            if not data:
                return
            off, end = 0, len(data)
            while off + 16 <= end:
                length, kind = unpack_hdr(data, off)
                if kind == _NLMSG_DONE:
                    return
                if kind == _NLMSG_ERROR:
                    err = struct.unpack_from("=i", data, off + 16)[0]
                    raise OSError(-err, os.strerror(-err) if err else "netlink error")
                if length < 16:
                    return
                m = off + 16
                if data[m + 4:m + 6] in want:  # the kernel filtered by port already; cheap to re-check
                    state, sport, dport, src, dst, wqueue, inode = unpack_msg(data, m)
                    if v4:
                        src, dst = _V4_PREFIX + src[:4], _V4_PREFIX + dst[:4]
                    if _SWAP:
                        sport, dport = ((sport & 0xFF) << 8) | (sport >> 8), ((dport & 0xFF) << 8) | (dport >> 8)
                    acked = None
                    a, msg_end = m + 72, off + length
                    while a + 4 <= msg_end:
                        alen, atype = unpack_attr(data, a)
                        if alen < 4:
                            break
                        if atype == _INET_DIAG_INFO:
                            if alen - 4 >= _TCPI_BYTES_ACKED + 8:
                                (acked,) = unpack_u64(data, a + 4 + _TCPI_BYTES_ACKED)
                            break
                        a += (alen + 3) & ~3
                    out[(src, sport, dst, dport)] = TcpState(acked, wqueue, inode, state)
                off += (length + 3) & ~3


def _port_filter(ports: list[int]) -> bytes:
    """inet_diag bytecode: accept a socket whose local port is one of ``ports`` (so the
    kernel skips every other socket, e.g. the clients' ends of loopback connections).
    Per port: ``S_GE port`` then ``S_LE port``; a match jumps to the end (accept), a
    miss to the next port, and the last miss jumps past the end (reject)."""
    n, out = len(ports), b""
    total = 16 * n
    for i, port in enumerate(ports):
        rest = total - 16 * i
        last = i == n - 1
        out += _OP.pack(_BC_S_GE, 8, rest + 4 if last else 16) + _OP.pack(0, 0, port)
        out += _OP.pack(_BC_S_LE, rest - 8, rest - 8 + 4 if last else 8) + _OP.pack(0, 0, port)
    return out


def _fd_of_inode(inode: int) -> int | None:
    target = f"socket:[{inode}]"
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return int(name)
        except OSError:
            continue
    return None


def abort_connection(key: Key | None, table: SocketTable | None = None) -> bool:
    """Abort this process's TCP connection ``key``: the kernel drops whatever is still
    queued for the peer and the connection ends with a reset.

    The server's transport is not reachable through ASGI, so the socket is found by its
    inode (socket table, then ``/proc/self/fd``); a duplicate of our own descriptor gets
    ``SO_LINGER(on, 0)`` and ``shutdown(SHUT_RDWR)``. The server's transport then sees
    end-of-file (or a failed write) and closes its descriptor, which - with a zero linger -
    sends RST instead of waiting for a client that takes nothing. True if it was done."""
    if key is None:
        return False
    table = table or SocketTable()
    state = table.read({key[1]}).get(key)
    if state is None or not state.inode:
        return False
    fd = _fd_of_inode(state.inode)
    if fd is None:
        return False
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        dup.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down by the peer: the linger still makes the close abortive
        return True
    except OSError:
        return False
    finally:
        dup.close()  # our duplicate only: the server's descriptor stays open until its transport closes it
