// N-API layer for the demux fast path: converts arguments with the shared
// checks (common/bindingArgs.h), calls the plain C++ in demux/, converts back.
// Nothing here knows about packets beyond offsets and lengths. Every record
// that crosses to JavaScript (rules, samples, stats) is described by name in
// what RegisterBinding exports, so native/demux.ts reads no magic indices.
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
#include "demux/sampler.h"
#include "parse/packetKey.h"
#include "parse/parseBinding.h"

namespace pcloud::demux {

namespace {

using binding::Fail;
using binding::FailType;
using binding::TypedArrayArg;
using binding::UintArg;
using binding::View;

// The table's counters, in the order stats() writes them; parse errors by
// reason follow the named fields.
constexpr const char* kStatsFields[] = {
    "version", "rules", "packets", "matched", "missed", "malformed", "rebuilds", "samplerSampled", "samplerSkipped",
    "samplerLost", "samplerQueued", "samplerCapacity", "indexTrees", "indexNodes", "indexLeaves", "indexLeafEntries",
    "indexMaxLeaf", "indexMaxDepth", "indexBytes", "overlayRules", "indexUnmatchable"};
constexpr size_t kStatsFieldCount = sizeof kStatsFields / sizeof kStatsFields[0];

constexpr FieldOffset kSampleFields[] = {
    {"time", sample_field::kTime},       {"ruleId", sample_field::kRuleId},       {"viId", sample_field::kViId},
    {"wireLength", sample_field::kWireLength}, {"captured", sample_field::kCaptured}, {"direction", sample_field::kDirection},
    {"action", sample_field::kAction},   {"bytes", sample_field::kBytes}};

struct Registry {
  std::mutex mutex;
  uint32_t next = 1;
  std::unordered_map<uint32_t, std::weak_ptr<FlowTable>> tables;
};

Registry& TableRegistry() {
  static Registry* registry = new Registry();  // outlives every isolate
  return *registry;
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
                        InstanceMethod<&DemuxTable::LookupTuples>("lookupTuples"),
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
          FailType(env, "attach must be a table handle (a number), got " + std::string(binding::TypeOf(h)));
          return;
        }
        const uint32_t handle = h.As<Napi::Number>().Uint32Value();
        Registry& r = TableRegistry();
        std::lock_guard lock(r.mutex);
        auto it = r.tables.find(handle);
        if (it != r.tables.end()) table_ = it->second.lock();
        if (!table_) {
          Fail(env, "no live demux table with handle " + std::to_string(handle));
          return;
        }
        handle_ = handle;
        return;
      }
      uint32_t sampleCapacity = static_cast<uint32_t>(options.sampleCapacity), vxlanPort = options.vxlanPort,
               overlayLimit = static_cast<uint32_t>(options.overlayLimit);
      if (!Option(o, "sampleCapacity", sampleCapacity) || !Option(o, "vxlanPort", vxlanPort) ||
          !Option(o, "overlayLimit", overlayLimit)) {
        return;
      }
      options.sampleCapacity = sampleCapacity;
      options.overlayLimit = overlayLimit;
      if (vxlanPort > 0xFFFF) {
        Fail(env, "vxlanPort must be a UDP port 0..65535, got " + std::to_string(vxlanPort));
        return;
      }
      options.vxlanPort = static_cast<uint16_t>(vxlanPort);
    }
    if (options.sampleCapacity == 0 || options.sampleCapacity > (1u << 20)) {
      Fail(env, "sampleCapacity must be in 1..1048576, got " + std::to_string(options.sampleCapacity));
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
  // An optional numeric option of the constructor: absent keeps the default.
  static bool Option(const Napi::Object& o, const char* name, uint32_t& out) {
    if (!o.Has(name)) return true;
    const Napi::Value v = o.Get(name);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
      return Fail(o.Env(), std::string("option ") + name + " must be an integer in 0..2^32-1");
    }
    out = static_cast<uint32_t>(d);
    return true;
  }

  // apply(addRecords, removeIds, modifyIds, modifyRecords) -> Uint32Array of new ids
  Napi::Value Apply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint8_t> add, modifyRecords;
    View<uint32_t> remove, modifyIds;
    if (!TypedArrayArg(info, 0, "addRecords", add) || !TypedArrayArg(info, 1, "removeIds", remove) ||
        !TypedArrayArg(info, 2, "modifyIds", modifyIds) ||
        !TypedArrayArg(info, 3, "modifyRecords", modifyRecords)) {
      return env.Undefined();
    }
    ChangeSet changes;
    std::string error;
    if (!DecodeRules(add.data, add.length, changes.add, error)) {
      Fail(env, "add: " + error);
      return env.Undefined();
    }
    if (!DecodeRules(modifyRecords.data, modifyRecords.length, changes.modify, error)) {
      Fail(env, "modify: " + error);
      return env.Undefined();
    }
    changes.remove.assign(remove.data, remove.data + remove.length);
    changes.modifyIds.assign(modifyIds.data, modifyIds.data + modifyIds.length);
    std::vector<uint32_t> ids;
    if (!table_->Apply(changes, ids, error)) {
      Fail(env, error);
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
    if (!TypedArrayArg(info, 0, "buffer", buffer) || !TypedArrayArg(info, 1, "offsets", offsets) ||
        !TypedArrayArg(info, 2, "lengths", lengths) || !UintArg(info, 3, "count", count) ||
        !UintArg(info, 4, "inPort", inPort) || !UintArg(info, 5, "direction", direction) ||
        !TypedArrayArg(info, 6, "actions", actions) || !TypedArrayArg(info, 7, "ruleIds", ruleIds) ||
        !TypedArrayArg(info, 8, "viIds", viIds) || !TypedArrayArg(info, 9, "reasons", reasons)) {
      return env.Undefined();
    }
    if (!parse::CheckFrames(env, buffer, offsets, lengths, count)) return env.Undefined();
    if (count > actions.length || count > ruleIds.length || count > viIds.length || count > reasons.length) {
      Fail(env, "result arrays hold fewer than " + std::to_string(count) + " entries");
      return env.Undefined();
    }
    if (direction > 1) {
      Fail(env, "direction must be 0 (to VI) or 1 (from VI)");
      return env.Undefined();
    }
    BatchOutput out{actions.data, ruleIds.data, viIds.data, reasons.data};
    table_->ClassifyBatch(buffer.data, offsets.data, lengths.data, count, BatchOptions{inPort, static_cast<uint8_t>(direction)}, out);
    return Napi::Number::New(env, count);
  }

  // lookupTuples(tuples: 5 numbers per packet, ruleIds) -> count
  Napi::Value LookupTuples(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint32_t> tuples, ruleIds;
    if (!TypedArrayArg(info, 0, "tuples", tuples) || !TypedArrayArg(info, 1, "ruleIds", ruleIds)) return env.Undefined();
    if (tuples.length % 5 != 0) {
      Fail(env, "tuples must hold 5 numbers per packet (source, destination, source port, destination port, protocol); got " +
                    std::to_string(tuples.length));
      return env.Undefined();
    }
    const size_t count = tuples.length / 5;
    if (ruleIds.length < count) {
      Fail(env, "ruleIds holds fewer than " + std::to_string(count) + " entries");
      return env.Undefined();
    }
    for (size_t i = 0; i < count; ++i) {
      const uint32_t* t = tuples.data + 5 * i;
      if (t[2] > 0xFFFF || t[3] > 0xFFFF || t[4] > 0xFF) {
        Fail(env, "tuple " + std::to_string(i) + ": " +
                      (t[4] > 0xFF ? "protocol " + std::to_string(t[4]) + " is above 255"
                                   : "port " + std::to_string(t[2] > 0xFFFF ? t[2] : t[3]) + " is above 65535"));
        return env.Undefined();
      }
    }
    table_->LookupTuples(tuples.data, count, ruleIds.data);
    return Napi::Number::New(env, static_cast<double>(count));
  }

  // readCounters(ids, out: Float64Array of 3 per id: packets, bytes, sampled)
  Napi::Value ReadCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<uint32_t> ids;
    View<double> out;
    if (!TypedArrayArg(info, 0, "ids", ids) || !TypedArrayArg(info, 1, "out", out)) return env.Undefined();
    if (out.length < ids.length * 3) {
      Fail(env, "out must hold 3 numbers per id");
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
    if (!TypedArrayArg(info, 0, "out", out)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(table_->DrainSamples(out.data, out.length / kSampleRecordBytes)));
  }

  // stats(out: Float64Array(statsFields.length + parse errors)); layout: statsFields, then parse errors by reason
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<double> out;
    if (!TypedArrayArg(info, 0, "out", out)) return env.Undefined();
    if (out.length < kStatsFieldCount + parse::kParseErrorCount) {
      Fail(env, "out holds " + std::to_string(out.length) + " numbers; stats need " +
                    std::to_string(kStatsFieldCount + parse::kParseErrorCount));
      return env.Undefined();
    }
    const TableStats s = table_->Stats();
    const double fields[kStatsFieldCount] = {
        double(s.version), double(s.rules), double(s.packets), double(s.matched), double(s.missed), double(s.malformed),
        double(s.rebuilds), double(s.sampler.sampled), double(s.sampler.skipped), double(s.sampler.lost),
        double(s.sampler.queued), double(s.sampler.capacity), double(s.baseShape.trees), double(s.baseShape.nodes),
        double(s.baseShape.leaves), double(s.baseShape.leafEntries), double(s.baseShape.maxLeaf),
        double(s.baseShape.maxDepth), double(s.baseShape.bytes), double(s.overlayRules), double(s.baseShape.unmatchable)};
    std::memcpy(out.data, fields, sizeof fields);
    for (size_t e = 0; e < parse::kParseErrorCount; ++e) out.data[kStatsFieldCount + e] = static_cast<double>(s.parseErrors[e]);
    return env.Undefined();
  }

  Napi::Value Handle(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), handle_); }

  std::shared_ptr<FlowTable> table_;
  uint32_t handle_ = 0;
};

Napi::Value SetDemuxPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScanPath path;
  std::string name;
  if (!binding::StringArg(info, 0, "path", name)) return env.Undefined();
  if (!ParsePathName(name, path)) {
    Fail(env, "demux path '" + name + "' is not one of 'portable', 'avx2', 'avx512'");
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

// {size, name: offset, ...}: a record layout as JavaScript reads it.
template <size_t N>
Napi::Object Layout(Napi::Env env, const FieldOffset (&fields)[N], size_t size) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  for (const FieldOffset& f : fields) layout.Set(f.name, Napi::Number::New(env, static_cast<double>(f.offset)));
  return layout;
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
  demux.Set("setDemuxPath", Napi::Function::New<SetDemuxPath>(env, "setDemuxPath"));
  demux.Set("demuxPath", Napi::Function::New<DemuxPath>(env, "demuxPath"));
  demux.Set("demuxPaths", Napi::Function::New<DemuxPaths>(env, "demuxPaths"));
  demux.Set("ruleLayout", Layout(env, kRuleFields, kRuleRecordSize));
  demux.Set("sampleLayout", Layout(env, kSampleFields, kSampleRecordBytes));
  Napi::Array stats = Napi::Array::New(env, kStatsFieldCount);
  for (size_t i = 0; i < kStatsFieldCount; ++i) stats.Set(static_cast<uint32_t>(i), kStatsFields[i]);
  demux.Set("statsFields", stats);
  exports.Set("demux", demux);
}

}  // namespace pcloud::demux
