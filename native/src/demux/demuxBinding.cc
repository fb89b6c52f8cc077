// N-API layer for the demux fast path: converts arguments, checks their
// bounds, calls the plain C++ in parse/ and demux/, converts back. Nothing
// here knows about packets beyond offsets and lengths.
//
// A table can be shared with worker threads: `handle()` returns a number that
// `new DemuxTable({ attach })` in another isolate turns into a second wrapper
// of the same C++ table (held by shared_ptr; the registry keeps only weak
// references, so a table dies with its last wrapper).
#include "demux/demuxBinding.h"

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "demux/flowTable.h"
#include "demux/leafScan.h"
#include "demux/ruleCodec.h"
#include "parse/packetParser.h"

namespace pcloud::demux {

namespace {

constexpr uint32_t kMaxFrameLength = 65535;
constexpr size_t kParseFields = 16;
constexpr size_t kStatsFields = 32;

struct Registry {
  std::mutex mutex;
  uint32_t next = 1;
  std::unordered_map<uint32_t, std::weak_ptr<FlowTable>> tables;
};

Registry& TableRegistry() {
  static Registry* registry = new Registry();  // outlives every isolate
  return *registry;
}

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

void ThrowType(Napi::Env env, const std::string& message) { Napi::TypeError::New(env, message).ThrowAsJavaScriptException(); }
void ThrowRange(Napi::Env env, const std::string& message) { Napi::RangeError::New(env, message).ThrowAsJavaScriptException(); }

template <typename T>
bool Typed(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, const char* name, View<T>& out) {
  const Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowType(info.Env(), std::string(name) + " must be a " +
                              (type == napi_uint8_array ? "Uint8Array" : type == napi_uint32_array ? "Uint32Array" : "Float64Array"));
    return false;
  }
  Napi::TypedArray array = v.As<Napi::TypedArray>();
  out.data = reinterpret_cast<T*>(static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  out.length = array.ElementLength();
  return true;
}

bool Uint(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t& out) {
  const Napi::Value v = info[index];
  if (!v.IsNumber()) {
    ThrowType(info.Env(), std::string(name) + " must be a number");
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowRange(info.Env(), std::string(name) + " must be an integer in 0..2^32-1, got " + std::to_string(d));
    return false;
  }
  out = static_cast<uint32_t>(d);
  return true;
}

// Every frame descriptor must lie inside the buffer before any frame is read.
bool CheckFrames(Napi::Env env, const View<uint8_t>& buffer, const View<uint32_t>& offsets, const View<uint32_t>& lengths,
                 uint32_t count) {
  if (count > offsets.length || count > lengths.length) {
    ThrowRange(env, "count " + std::to_string(count) + " exceeds offsets (" + std::to_string(offsets.length) +
                        ") or lengths (" + std::to_string(lengths.length) + ")");
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (lengths.data[i] > kMaxFrameLength) {
      ThrowRange(env, "frame " + std::to_string(i) + " is " + std::to_string(lengths.data[i]) + " bytes; the limit is 65535");
      return false;
    }
    if (uint64_t{offsets.data[i]} + lengths.data[i] > buffer.length) {
      ThrowRange(env, "frame " + std::to_string(i) + " (offset " + std::to_string(offsets.data[i]) + ", length " +
                          std::to_string(lengths.data[i]) + ") ends past the buffer's " + std::to_string(buffer.length) + " bytes");
      return false;
    }
  }
  return true;
}

bool ParsePathName(const std::string& name, ScanPath& path) {
  for (ScanPath p : {ScanPath::kPortable, ScanPath::kAvx2, ScanPath::kAvx512}) {
    if (name == ScanPathName(p)) {
      path = p;
      return true;
    }
  }
  return false;
}

class DemuxTable : public Napi::ObjectWrap<DemuxTable> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DemuxTable",
                       {InstanceMethod<&DemuxTable::Apply>("apply"), InstanceMethod<&DemuxTable::Classify>("classify"),
                        InstanceMethod<&DemuxTable::ReadCounters>("readCounters"),
                        InstanceMethod<&DemuxTable::DrainSamples>("drainSamples"),
                        InstanceMethod<&DemuxTable::Stats>("stats"), InstanceMethod<&DemuxTable::Handle>("handle")});
  }

  explicit DemuxTable(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DemuxTable>(info) {
    Napi::Env env = info.Env();
    FlowTable::Options options;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("attach")) {
        const Napi::Value h = o.Get("attach");
        if (!h.IsNumber()) {
          ThrowType(env, "attach must be a table handle (a number)");
          return;
        }
        const uint32_t handle = h.As<Napi::Number>().Uint32Value();
        Registry& r = TableRegistry();
        std::lock_guard lock(r.mutex);
        auto it = r.tables.find(handle);
        if (it != r.tables.end()) table_ = it->second.lock();
        if (!table_) {
          ThrowRange(env, "no live demux table with handle " + std::to_string(handle));
          return;
        }
        handle_ = handle;
        return;
      }
      if (o.Has("sampleCapacity")) options.sampleCapacity = o.Get("sampleCapacity").As<Napi::Number>().Uint32Value();
      if (o.Has("vxlanPort")) options.vxlanPort = static_cast<uint16_t>(o.Get("vxlanPort").As<Napi::Number>().Uint32Value());
      if (o.Has("overlayLimit")) options.overlayLimit = o.Get("overlayLimit").As<Napi::Number>().Uint32Value();
    }
    if (options.sampleCapacity == 0 || options.sampleCapacity > (1u << 20)) {
      ThrowRange(env, "sampleCapacity must be in 1..1048576");
      return;
    }
    table_ = std::make_shared<FlowTable>(options);
    Registry& r = TableRegistry();
    std::lock_guard lock(r.mutex);
    for (auto it = r.tables.begin(); it != r.tables.end();) it = it->second.expired() ? r.tables.erase(it) : std::next(it);
    handle_ = r.next++;
    r.tables[handle_] = table_;
  }

 private:
  // apply(addRecords, removeIds, modifyIds, modifyRecords) -> Uint32Array of new ids
  Napi::Value Apply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint8_t> add, modifyRecords;
    View<uint32_t> remove, modifyIds;
    if (!Typed(info, 0, napi_uint8_array, "addRecords", add) || !Typed(info, 1, napi_uint32_array, "removeIds", remove) ||
        !Typed(info, 2, napi_uint32_array, "modifyIds", modifyIds) ||
        !Typed(info, 3, napi_uint8_array, "modifyRecords", modifyRecords)) {
      return env.Undefined();
    }
    ChangeSet changes;
    std::string error;
    if (!DecodeRules(add.data, add.length, changes.add, error)) {
      ThrowRange(env, "add: " + error);
      return env.Undefined();
    }
    if (!DecodeRules(modifyRecords.data, modifyRecords.length, changes.modify, error)) {
      ThrowRange(env, "modify: " + error);
      return env.Undefined();
    }
    changes.remove.assign(remove.data, remove.data + remove.length);
    changes.modifyIds.assign(modifyIds.data, modifyIds.data + modifyIds.length);
    std::vector<uint32_t> ids;
    if (!table_->Apply(changes, ids, error)) {
      ThrowRange(env, error);
      return env.Undefined();
    }
    Napi::Uint32Array out = Napi::Uint32Array::New(env, ids.size());
    if (!ids.empty()) std::memcpy(out.Data(), ids.data(), ids.size() * 4);
    return out;
  }

  // classify(buffer, offsets, lengths, count, inPort, direction, actions, ruleIds, viIds, reasons) -> count
  Napi::Value Classify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint8_t> buffer, actions, reasons;
    View<uint32_t> offsets, lengths, ruleIds, viIds;
    uint32_t count, inPort, direction;
    if (!Typed(info, 0, napi_uint8_array, "buffer", buffer) || !Typed(info, 1, napi_uint32_array, "offsets", offsets) ||
        !Typed(info, 2, napi_uint32_array, "lengths", lengths) || !Uint(info, 3, "count", count) ||
        !Uint(info, 4, "inPort", inPort) || !Uint(info, 5, "direction", direction) ||
        !Typed(info, 6, napi_uint8_array, "actions", actions) || !Typed(info, 7, napi_uint32_array, "ruleIds", ruleIds) ||
        !Typed(info, 8, napi_uint32_array, "viIds", viIds) || !Typed(info, 9, napi_uint8_array, "reasons", reasons)) {
      return env.Undefined();
    }
    if (!CheckFrames(env, buffer, offsets, lengths, count)) return env.Undefined();
    if (count > actions.length || count > ruleIds.length || count > viIds.length || count > reasons.length) {
      ThrowRange(env, "result arrays hold fewer than " + std::to_string(count) + " entries");
      return env.Undefined();
    }
    if (direction > 1) {
      ThrowRange(env, "direction must be 0 (to VI) or 1 (from VI)");
      return env.Undefined();
    }
    BatchOutput out{actions.data, ruleIds.data, viIds.data, reasons.data};
    table_->ClassifyBatch(buffer.data, offsets.data, lengths.data, count, BatchOptions{inPort, static_cast<uint8_t>(direction)}, out);
    return Napi::Number::New(env, count);
  }

  // readCounters(ids, out: Float64Array of 3 per id: packets, bytes, sampled)
  Napi::Value ReadCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint32_t> ids;
    View<double> out;
    if (!Typed(info, 0, napi_uint32_array, "ids", ids) || !Typed(info, 1, napi_float64_array, "out", out)) return env.Undefined();
    if (out.length < ids.length * 3) {
      ThrowRange(env, "out must hold 3 numbers per id");
      return env.Undefined();
    }
    for (size_t i = 0; i < ids.length; ++i) {
      uint64_t packets = 0, bytes = 0, sampled = 0;
      table_->ReadCounters(ids.data[i], packets, bytes, sampled);
      out.data[3 * i] = static_cast<double>(packets);
      out.data[3 * i + 1] = static_cast<double>(bytes);
      out.data[3 * i + 2] = static_cast<double>(sampled);
    }
    return env.Undefined();
  }

  Napi::Value DrainSamples(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint8_t> out;
    if (!Typed(info, 0, napi_uint8_array, "out", out)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(table_->DrainSamples(out.data, out.length / kSampleRecordBytes)));
  }

  // stats(out: Float64Array(kStatsFields)); layout documented in native/demux.ts
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<double> out;
    if (!Typed(info, 0, napi_float64_array, "out", out)) return env.Undefined();
    if (out.length < kStatsFields + parse::kParseErrorCount) {
      ThrowRange(env, "stats array too small");
      return env.Undefined();
    }
    const TableStats s = table_->Stats();
    const double fields[] = {
        double(s.version), double(s.rules), double(s.packets), double(s.matched), double(s.missed), double(s.malformed),
        double(s.rebuilds), double(s.sampler.sampled), double(s.sampler.skipped), double(s.sampler.lost),
        double(s.sampler.queued), double(s.sampler.capacity), double(s.baseShape.trees), double(s.baseShape.nodes),
        double(s.baseShape.leaves), double(s.baseShape.leafEntries), double(s.baseShape.maxLeaf),
        double(s.baseShape.maxDepth), double(s.baseShape.bytes), double(s.overlayRules)};
    size_t i = 0;
    for (double f : fields) out.data[i++] = f;
    for (; i < kStatsFields; ++i) out.data[i] = 0;
    for (size_t e = 0; e < parse::kParseErrorCount; ++e) out.data[kStatsFields + e] = static_cast<double>(s.parseErrors[e]);
    return env.Undefined();
  }

  Napi::Value Handle(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), handle_); }

  std::shared_ptr<FlowTable> table_;
  uint32_t handle_ = 0;
};

// parseFrames(buffer, offsets, lengths, count, linkType, vxlanPort, out: Uint32Array(16 per frame))
Napi::Value ParseFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<uint8_t> buffer;
  View<uint32_t> offsets, lengths, out;
  uint32_t count, linkType, vxlanPort;
  if (!Typed(info, 0, napi_uint8_array, "buffer", buffer) || !Typed(info, 1, napi_uint32_array, "offsets", offsets) ||
      !Typed(info, 2, napi_uint32_array, "lengths", lengths) || !Uint(info, 3, "count", count) ||
      !Uint(info, 4, "linkType", linkType) || !Uint(info, 5, "vxlanPort", vxlanPort) ||
      !Typed(info, 6, napi_uint32_array, "out", out)) {
    return env.Undefined();
  }
  if (!CheckFrames(env, buffer, offsets, lengths, count)) return env.Undefined();
  if (out.length < size_t{count} * kParseFields) {
    ThrowRange(env, "out must hold 16 numbers per frame");
    return env.Undefined();
  }
  if (linkType != 1 && linkType != 12) {
    ThrowRange(env, "linkType must be 1 (Ethernet) or 12 (raw IP)");
    return env.Undefined();
  }
  parse::ParseOptions options{0, static_cast<uint16_t>(vxlanPort), static_cast<parse::LinkType>(linkType)};
  for (uint32_t i = 0; i < count; ++i) {
    parse::PacketKey k;
    const parse::ParseError e = parse::ParseFrame(buffer.data + offsets.data[i], lengths.data[i], options, k);
    uint32_t* f = out.data + size_t{i} * kParseFields;
    const uint32_t values[kParseFields] = {
        static_cast<uint32_t>(e), k.family, k.ethType, k.dims[parse::kProto], k.dims[parse::kSport], k.dims[parse::kDport],
        k.dims[parse::kSrc], k.dims[parse::kDst], k.vni, static_cast<uint32_t>(k.fragment), k.vlanCount, k.l3Offset,
        k.l4Offset, k.icmpType, k.icmpCode, k.inPort};
    std::memcpy(f, values, sizeof values);
  }
  return env.Undefined();
}

Napi::Value SetDemuxPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScanPath path;
  if (!info[0].IsString() || !ParsePathName(info[0].As<Napi::String>().Utf8Value(), path)) {
    ThrowType(env, "path must be 'portable', 'avx2' or 'avx512'");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, SetScanPath(path));
}

Napi::Value DemuxPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ScanPathName(ActiveScanPath())); }

Napi::Value DemuxPaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array paths = Napi::Array::New(env);
  uint32_t n = 0;
  for (ScanPath p : {ScanPath::kPortable, ScanPath::kAvx2, ScanPath::kAvx512}) {
    if (ScanPathSupported(p)) paths.Set(n++, Napi::String::New(env, ScanPathName(p)));
  }
  return paths;
}

Napi::Value ParseErrorNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env, parse::kParseErrorCount);
  for (size_t e = 0; e < parse::kParseErrorCount; ++e) {
    names.Set(static_cast<uint32_t>(e), Napi::String::New(env, parse::ParseErrorName(static_cast<parse::ParseError>(e))));
  }
  return names;
}

}  // namespace

std::shared_ptr<FlowTable> FindTable(uint32_t handle) {
  Registry& r = TableRegistry();
  std::lock_guard lock(r.mutex);
  auto it = r.tables.find(handle);
  return it == r.tables.end() ? nullptr : it->second.lock();
}

void RegisterBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object demux = Napi::Object::New(env);
  demux.Set("DemuxTable", DemuxTable::Define(env));
  demux.Set("parseFrames", Napi::Function::New<ParseFrames>(env, "parseFrames"));
  demux.Set("setDemuxPath", Napi::Function::New<SetDemuxPath>(env, "setDemuxPath"));
  demux.Set("demuxPath", Napi::Function::New<DemuxPath>(env, "demuxPath"));
  demux.Set("demuxPaths", Napi::Function::New<DemuxPaths>(env, "demuxPaths"));
  demux.Set("parseErrorNames", Napi::Function::New<ParseErrorNames>(env, "parseErrorNames"));
  demux.Set("ruleRecordSize", Napi::Number::New(env, kRuleRecordSize));
  demux.Set("sampleRecordSize", Napi::Number::New(env, kSampleRecordBytes));
  exports.Set("demux", demux);
}

}  // namespace pcloud::demux
