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
``read()`` for every stream of a flush, never a syscall per stream); the kernel skips
sockets on other local ports (an inet_diag bytecode filter) and only the wanted
connections are decoded. Elsewhere (not Linux, no netlink, a sandbox without
``sock_diag``) :attr:`SocketTable.available` turns False after the first failed read and
callers fall back to what they measured before.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
import weakref
from collections.abc import Callable, Collection, Container
from typing import Any, NamedTuple

__all__ = ["Found", "Key", "TcpState", "SocketTable", "keys_for", "abort_connection", "written"]

log = logging.getLogger("sse")

# A connection as the kernel's inet_diag_sockid spells it: local port, remote port (2
# bytes each, network order), local address, remote address (16 bytes each: an IPv4
# socket's address is 4 bytes then zeros, an IPv6 socket's all 16, IPv4-mapped for a
# dual-stack socket serving an IPv4 client). keys_for() gives every spelling a scope's
# addresses can have, so matching is one dict lookup per socket.
Key = bytes

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_INET_DIAG_INFO = 2
_INET_DIAG_REQ_BYTECODE = 1
_BC_S_GE, _BC_S_LE = 2, 3
# states a live stream's socket can be in: ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, LAST_ACK
_STATES = (1 << 1) | (1 << 4) | (1 << 8) | (1 << 9)
_TCPI_BYTES_ACKED = 120  # offset of tcpi_bytes_acked (u64) in struct tcp_info (Linux >= 4.1)
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_V4_PAD = b"\0" * 12
_HDR = struct.Struct("=IHHII")  # nlmsghdr
_HDR2 = struct.Struct("=IH")  # nlmsghdr: length, type
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_TAIL = struct.Struct("=xB58xI4xI")  # inet_diag_msg: state, wqueue (offset 60), inode (offset 68)
_WQUEUE = struct.Struct("=I")  # inet_diag_msg.idiag_wqueue alone: at 16 + 60 from a message's start
_WQUEUE_AT = 16 + 60
_OP = struct.Struct("=BBH")  # inet_diag_bc_op
_U64 = struct.Struct("=Q")


# what SocketTable.scan calls for each wanted connection: (key, bytes_acked, queued, inode, state)
Found = Callable[[Key, "int | None", int, int, int], None]


class TcpState(NamedTuple):
    """One connection as the kernel sees it (see the module docstring)."""

    bytes_acked: int | None  # None: the kernel did not report tcp_info
    queued: int
    inode: int
    state: int


def written(st: TcpState | None) -> int | None:
    """Bytes the server wrote into the connection so far (acknowledged + still queued: for
    TCP the kernel's ``wqueue`` is ``write_seq - snd_una``), or None when unknown."""
    if st is None or st.bytes_acked is None:
        return None
    return st.bytes_acked + st.queued


def _forms(host: str) -> list[bytes]:
    """The 16-byte spellings of an address in the socket table."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return []
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return [ip.packed + _V4_PAD, _V4_MAPPED + ip.packed]  # an AF_INET socket, a dual-stack one
    return [ip.packed]


def keys_for(server: tuple[str, int] | list[Any] | None, client: tuple[str, int] | list[Any] | None) -> tuple[Key, ...]:
    """The socket-table keys an ASGI scope's ``server`` / ``client`` pair can have (empty
    when either is missing or not an IP address: a Unix socket, a rewritten client)."""
    if not server or not client or len(server) < 2 or len(client) < 2:
        return ()
    try:
        ports = int(server[1]).to_bytes(2, "big") + int(client[1]).to_bytes(2, "big")
    except (TypeError, ValueError, OverflowError):
        return ()
    local, remote = _forms(str(server[0])), _forms(str(client[0]))
    return tuple(ports + lo + re for lo, re in zip(local, remote, strict=True)) if len(local) == len(remote) else ()


class SocketTable:
    """Reads the kernel's TCP socket table (both families), one dump each."""

    def __init__(self) -> None:
        self.available: bool = sys.platform.startswith("linux")
        self._seq = 0
        self.lookups = self.available  # exact lookups (lookup()) work; False after the first that failed
        self._nl: socket.socket | None = None  # kept open for lookup(): one send + one recv a stream

    def read(self, keys: Collection[Key]) -> dict[Key, TcpState]:
        """The state of each connection in ``keys`` that exists. Empty (and
        :attr:`available` False from then on) when the kernel cannot be asked."""
        return self._read(keys, True)

    def read_raw(self, keys: Collection[Key]) -> dict[Key, tuple[int | None, int, int, int]]:
        """:meth:`read` with plain tuples ``(bytes_acked, queued, inode, state)``: the cyclic
        collector stops tracking them (a NamedTuple per connection, thousands per read,
        stayed tracked and was promoted; the socket watch reads this)."""
        return self._read(keys, False)

    def _read(self, keys: Collection[Key], named: bool) -> dict[Key, Any]:
        if not self.available or not keys:
            return {}
        out: dict[Key, Any] = {}
        want = keys if isinstance(keys, (set, frozenset, dict)) else set(keys)

        def keep(key: Key, acked: int | None, queued: int, inode: int, state: int) -> None:
            out[key] = TcpState(acked, queued, inode, state) if named else (acked, queued, inode, state)

        return out if self._scan(want, keep) else {}

    def scan(self, want: Container[Key] | Collection[Key], found: Found, *, queued_only: bool = False) -> bool:
        """Read the table and call ``found(key, bytes_acked, queued, inode, state)`` for each
        connection in ``want`` as it is decoded: nothing is kept per connection (the socket
        watch's read of thousands of streams builds no table of answers). ``want`` needs
        ``in`` and iteration over its keys (a dict or a set). ``queued_only``: only the
        connections with bytes waiting for their peer (unsent or not acknowledged); every
        other one is passed over after one look at its queue, nothing of it decoded (a
        connection of ``want`` not reported has an empty queue, or is gone). False (and
        :attr:`available` False from then on) when the kernel cannot be asked."""
        if not self.available:
            return False
        return self._scan(want, found, queued_only) if want else True

    def _scan(self, want: Any, found: Found, queued_only: bool = False) -> bool:
        ports = sorted({int.from_bytes(k[:2], "big") for k in want})
        try:
            with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
                for family in (socket.AF_INET, socket.AF_INET6):
                    self._dump(nl, family, ports, want, found, queued_only)
        except OSError as exc:
            self.available = False
            log.warning("SSE socket table unavailable (%s): liveness falls back to bytes handed to the server", exc)
            return False
        return True

    def lookup(self, keys: tuple[Key, ...]) -> tuple[Key, TcpState] | None:
        """ONE connection by its exact address (the spellings :func:`keys_for` gives: an
        IPv4 pair as an AF_INET socket, then as a dual-stack one): a netlink
        request without the dump flag, which the kernel answers from its connection hash
        (no walk over the table, whatever the number of sockets). Returns the spelling the
        table uses for it (what :meth:`read` returns it under) and its state; None when no
        spelling names a connection of this host, or the kernel cannot be asked (then
        :attr:`lookups` turns False; dumps may still work)."""
        if not self.available or not self.lookups or not keys:
            return None
        try:
            nl = self._nl
            if nl is None:
                nl = self._nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
                weakref.finalize(self, nl.close)  # closed with the table (or at exit), never left to the collector
            for i, key in enumerate(keys):
                family = socket.AF_INET if len(keys) == 2 and i == 0 else socket.AF_INET6
                self._seq += 1
                req = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1), 0, _STATES)
                       + key + b"\0\0\0\0" + b"\xff" * 8)  # interface 0, INET_DIAG_NOCOOKIE
                nl.send(_HDR.pack(_HDR.size + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, self._seq, 0) + req)
                while True:  # skip any late answer to an earlier request (sequence numbers)
                    data = nl.recv(1 << 16)
                    if len(data) < 16 or _HDR.unpack_from(data)[3] == self._seq:
                        break
                if len(data) < 16:
                    continue
                length, kind = _HDR2.unpack_from(data, 0)
                if kind == _NLMSG_ERROR:
                    err = struct.unpack_from("=i", data, 16)[0]
                    if err in (0, -errno.ENOENT):
                        continue  # no such connection in this spelling
                    raise OSError(-err, os.strerror(-err))
                if kind == _SOCK_DIAG_BY_FAMILY and data[20:56] in keys:
                    # exactly this connection (the kernel's lookup falls back to a listening
                    # socket on the local address when no connection matches)
                    st = _decode(data, 0, length)
                    if (1 << st.state) & _STATES:
                        return bytes(data[20:56]), st
        except OSError as exc:
            self.lookups = False
            log.warning("SSE socket lookups unavailable (%s): streams are counted by the ASGI send wrapper", exc)
            self.close()
        return None

    def close(self) -> None:
        nl, self._nl = self._nl, None
        if nl is not None:
            nl.close()

    def _dump(self, nl: socket.socket, family: int, ports: list[int], want: Container[Key], found: Found,
              queued_only: bool = False) -> None:
        self._seq += 1
        bc = _port_filter(ports)
        req = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1), 0, _STATES) + b"\0" * 48
               + _ATTR.pack(4 + len(bc), _INET_DIAG_REQ_BYTECODE) + bc)
        nl.send(_HDR.pack(_HDR.size + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, self._seq, 0) + req)
        unpack_hdr, unpack_wqueue = _HDR2.unpack_from, _WQUEUE.unpack_from
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
                if queued_only and not unpack_wqueue(data, off + _WQUEUE_AT)[0]:
                    off += (length + 3) & ~3  # nothing waits for this peer: not even its key is taken
                    continue
                key = data[off + 20:off + 56]  # inet_diag_msg.id: sport, dport, src, dst
                if key in want:
                    found(key, *_decode_raw(data, off, length))
                off += (length + 3) & ~3


def _decode(data: bytes, off: int, length: int) -> TcpState:
    return TcpState(*_decode_raw(data, off, length))


def _decode_raw(data: bytes, off: int, length: int) -> tuple[int | None, int, int, int]:
    """One inet_diag_msg (at ``off``, ``length`` bytes with its netlink header):
    (bytes_acked, queued, inode, state)."""
    m = off + 16
    state, wqueue, inode = _TAIL.unpack_from(data, m)
    acked = None
    a, msg_end = m + 72, off + length
    while a + 4 <= msg_end:
        alen, atype = _ATTR.unpack_from(data, a)
        if alen < 4:
            break
        if atype == _INET_DIAG_INFO:
            if alen - 4 >= _TCPI_BYTES_ACKED + 8:
                (acked,) = _U64.unpack_from(data, a + 4 + _TCPI_BYTES_ACKED)
            break
        a += (alen + 3) & ~3
    return (acked, wqueue, inode, state)


def _port_filter(ports: list[int]) -> bytes:
    """inet_diag bytecode: accept a socket whose local port lies in [min(ports),
    max(ports)] (one port: exactly it), so the kernel skips every other socket, e.g. the
    clients' ends of loopback connections; the exact match is the caller's key lookup.
    ``S_GE lo`` then ``S_LE hi``: a pass jumps on (to the end: accept), a miss past the
    end (reject). A range, not an OR chain: the kernel's audit only accepts jump targets
    on the pass chain."""
    lo, hi = min(ports), max(ports)
    return (_OP.pack(_BC_S_GE, 8, 16 + 4) + _OP.pack(0, 0, lo)
            + _OP.pack(_BC_S_LE, 8, 8 + 4) + _OP.pack(0, 0, hi))


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


def abort_connection(keys: Collection[Key], table: SocketTable | None = None) -> bool:
    """Abort this process's TCP connection (any of ``keys``): the kernel drops whatever is
    still queued for the peer and the connection ends with a reset.

    The server's transport is not reachable through ASGI, so the socket is found by its
    inode (socket table, then ``/proc/self/fd``); a duplicate of our own descriptor gets
    ``SO_LINGER(on, 0)`` and ``shutdown(SHUT_RDWR)``. The server's transport then sees
    end-of-file (or a failed write) and closes its descriptor, which - with a zero linger -
    sends RST instead of waiting for a client that takes nothing. True if it was done."""
    if not keys:
        return False
    found = (table or SocketTable()).read(keys)
    state = next(iter(found.values()), None)
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
