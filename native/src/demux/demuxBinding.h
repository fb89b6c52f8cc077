// N-API registration of the demux fast path.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

namespace pcloud::demux {
void RegisterBinding(Napi::Env env, Napi::Object exports);

class FlowTable;
// The live table behind a FlowTable handle (see `handle()`), or null: how the
// data plane classifies with the table that JavaScript loads rules into.
std::shared_ptr<FlowTable> FindTable(uint32_t handle);
}
