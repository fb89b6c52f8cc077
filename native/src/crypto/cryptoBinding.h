// N-API registration of the crypto fast path.
#pragma once
#include <napi.h>

namespace pcloud::crypto {
void RegisterBinding(Napi::Env env, Napi::Object exports);
}
