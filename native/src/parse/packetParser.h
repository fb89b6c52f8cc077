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

}  // namespace pcloud::parse
