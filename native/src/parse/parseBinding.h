// N-API registration of the frame parser, and the frame-batch check that every
// binding handing frames to C++ (parse, demux) makes first.
#pragma once
#include <napi.h>

#include <cstdint>

#include "common/bindingArgs.h"

namespace pcloud::parse {

void RegisterBinding(Napi::Env env, Napi::Object exports);

// `count` frames buffer[offsets[i] .. offsets[i] + lengths[i]): the arrays hold
// `count` entries, each frame is at most 65535 bytes and lies inside the buffer.
bool CheckFrames(Napi::Env env, const binding::View<uint8_t>& buffer, const binding::View<uint32_t>& offsets,
                 const binding::View<uint32_t>& lengths, uint32_t count);

}  // namespace pcloud::parse
