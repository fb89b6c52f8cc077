// Bounds-checked parser for the frames a cloudlet controller receives.
#pragma once
#include <cstddef>
#include <cstdint>

#include "parse/packetKey.h"

namespace pcloud::parse {

// Parses one frame of `len` bytes at `data` into `key`. Never reads outside
// [data, data + len). Returns ParseError::kNone or the first problem found;
// on error `key` is partially filled and must not be classified.
ParseError ParseFrame(const uint8_t* data, size_t len, const ParseOptions& options, PacketKey& key);

// ParseFrame for the n frames of a batch (frame i: lengths[i] bytes at
// buffer + offsets[i], already checked against the buffer): keys[i] and
// status[i] are exactly what ParseFrame gives. The common frame (Ethernet II
// without tags, IPv4 without options or fragmentation) takes a short path
// with few branches, whose key is built by byte shuffles on x86-64 (SSSE3);
// every other frame goes through ParseFrame.
void ParseFrames(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                 const ParseOptions& options, PacketKey* keys, ParseError* status);
// The same with the short path's key stored field by field, as CPUs without
// the shuffles run it (the fuzz target holds both to ParseFrame).
void ParseFramesPortable(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                         const ParseOptions& options, PacketKey* keys, ParseError* status);

// The keys of n IPv4 5-tuples (five numbers each: source, destination,
// source port, destination port, protocol; ports at most 65535, protocol at
// most 255) as ParseFrame gives them for an untagged Ethernet II frame
// carrying each that is not VXLAN: ports only on TCP and UDP (kNoPort on
// every other protocol), ingress port 0.
void Ipv4TupleKeys(const uint32_t* tuples, size_t n, PacketKey* keys);

}  // namespace pcloud::parse
