#!/usr/bin/python3
# The spoofing service of test/support/spoofingService.ts as a provider would
# upload it (a bundle, program "upload") for a VI on a tap port: it forwards
# every frame it receives, and with each also sends a copy re-addressed to
# 198.19.66.66, which none of its rules captures either way round. The data
# plane must drop those copies and the controller raise a spoofing alarm.
# Python, not Node: a bundle has no native addon for ring ports, and the VI is
# root in its own namespaces (a user namespace), which a raw socket on its
# tap needs. The copy's IPv4 checksum is left stale, as in the Node version.
import os
import socket

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # what this socket sent itself, seen again on the way out
tap = (os.environ.get('PCLOUD_VI_TAPS') or 'eth0').split(',')[0]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((tap, 0))
print(f'spoof: forwarding on {tap}, each IPv4 frame also copied to 198.19.66.66', flush=True)
while True:
    frame, address = sock.recvfrom(65535)
    if address[2] == PACKET_OUTGOING:
        continue
    sock.send(frame)
    # The IPv4 destination of an untagged frame: 14 bytes of Ethernet, then 16 into the header.
    if len(frame) >= 34 and frame[12:14] == b'\x08\x00':
        copy = bytearray(frame)
        copy[30:34] = bytes([198, 19, 66, 66])
        sock.send(copy)
