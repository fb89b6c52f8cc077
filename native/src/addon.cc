// The addon's single entry point. Each concern registers its own functions;
// this file only wires them together, so the N-API layer stays thin.
#include <napi.h>

#include "crypto/cryptoBinding.h"
#include "dataplane/dataPlaneBinding.h"
#include "demux/demuxBinding.h"
#include "parse/parseBinding.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pcloud::parse::RegisterBinding(env, exports);
  pcloud::demux::RegisterBinding(env, exports);
  pcloud::crypto::RegisterBinding(env, exports);
  pcloud::dataplane::RegisterBinding(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(packetcloud_native, Init)
