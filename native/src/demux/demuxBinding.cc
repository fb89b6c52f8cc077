#include "demux/demuxBinding.h"

namespace pcloud::demux {
void RegisterBinding(Napi::Env, Napi::Object) {}
}
