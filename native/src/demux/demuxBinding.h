// N-API registration of the demux fast path.
#pragma once
#include <napi.h>

namespace pcloud::demux {
void RegisterBinding(Napi::Env env, Napi::Object exports);
}
