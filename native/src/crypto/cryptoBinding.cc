#include "crypto/cryptoBinding.h"

namespace pcloud::crypto {
void RegisterBinding(Napi::Env, Napi::Object) {}
}
