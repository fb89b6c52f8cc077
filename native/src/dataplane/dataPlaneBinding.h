// N-API registration of the data plane and of the VI side of ring ports.
#pragma once
#include <napi.h>

namespace pcloud::dataplane {
void RegisterBinding(Napi::Env env, Napi::Object exports);
}
