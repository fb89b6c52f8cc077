// N-API layer of the data plane: converts configuration, exposes counters as
// flat Float64Arrays whose layouts native/dataplane.ts names, and drains
// sample and alarm records as bytes. Also the VI side of a ring port
// (RingClient): connect to the handoff socket, receive and send batches.
#include "dataplane/dataPlaneBinding.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/bindingArgs.h"
#include "dataplane/dataPlane.h"
#include "dataplane/loadGenerator.h"
#include "demux/demuxBinding.h"
#include "io/vxlanUplink.h"

namespace pcloud::dataplane {

namespace {

constexpr size_t kTotalsFixed = 16;
constexpr size_t kTotalsFields = kTotalsFixed + io::kUplinkDropCount + parse::kParseErrorCount;
constexpr size_t kViFields = 2 * (2 + kViDropCount);

void ThrowType(Napi::Env env, const std::string& m) { Napi::TypeError::New(env, m).ThrowAsJavaScriptException(); }
void ThrowError(Napi::Env env, const std::string& m) { Napi::Error::New(env, m).ThrowAsJavaScriptException(); }

bool GetUint(Napi::Object o, const char* key, uint32_t& out, uint32_t max, std::string& error) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return true;
  const Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    error = std::string(key) + " must be an integer in 0.." + std::to_string(max);
    return false;
  }
  out = static_cast<uint32_t>(d);
  return true;
}

bool ParseEgress(Napi::Value v, EgressPolicy& out, std::string& error) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) return error = "egress must be an object", false;
  Napi::Object o = v.As<Napi::Object>();
  const std::string mode = o.Has("mode") ? o.Get("mode").ToString().Utf8Value() : "unchecked";
  if (mode == "unchecked") {
    out.mode = EgressPolicy::Mode::kUnchecked;
  } else if (mode == "transparent") {
    out.mode = EgressPolicy::Mode::kTransparent;
  } else if (mode == "visible") {
    out.mode = EgressPolicy::Mode::kVisible;
  } else {
    return error = "egress.mode must be 'unchecked', 'transparent' or 'visible', got '" + mode + "'", false;
  }
  if (o.Has("addresses") && o.Get("addresses").IsArray()) {
    Napi::Array a = o.Get("addresses").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string text = a.Get(i).ToString().Utf8Value();
      EgressPolicy::Address addr{};
      if (inet_pton(AF_INET, text.c_str(), addr.bytes) == 1) {
        addr.family = 4;
      } else if (inet_pton(AF_INET6, text.c_str(), addr.bytes) == 1) {
        addr.family = 6;
      } else {
        return error = "egress address '" + text + "' is not an IPv4 or IPv6 address", false;
      }
      out.addresses.push_back(addr);
    }
  }
  if (out.mode == EgressPolicy::Mode::kVisible && out.addresses.empty()) {
    return error = "a visible VI's egress check needs its addresses", false;
  }
  return true;
}

template <typename T>
T* TypedData(Napi::Value v, napi_typedarray_type type, size_t& length) {
  T* data = nullptr;
  return binding::TypedArrayData(v.Env(), v, type, data, length) ? data : nullptr;
}

class DataPlaneWrap : public Napi::ObjectWrap<DataPlaneWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DataPlane",
                       {InstanceMethod<&DataPlaneWrap::Port>("port"), InstanceMethod<&DataPlaneWrap::Threads>("threads"),
                        InstanceMethod<&DataPlaneWrap::AddRingPort>("addRingPort"),
                        InstanceMethod<&DataPlaneWrap::AddTapPort>("addTapPort"),
                        InstanceMethod<&DataPlaneWrap::ClosePort>("closePort"),
                        InstanceMethod<&DataPlaneWrap::SetLimits>("setLimits"),
                        InstanceMethod<&DataPlaneWrap::SetEgress>("setEgress"),
                        InstanceMethod<&DataPlaneWrap::SetQuarantined>("setQuarantined"),
                        InstanceMethod<&DataPlaneWrap::ViCounters>("viCounters"),
                        InstanceMethod<&DataPlaneWrap::Totals>("totals"),
                        InstanceMethod<&DataPlaneWrap::DrainSamples>("drainSamples"),
                        InstanceMethod<&DataPlaneWrap::DrainAlarms>("drainAlarms"), InstanceMethod<&DataPlaneWrap::Stop>("stop")});
  }

  explicit DataPlaneWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataPlaneWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowType(env, "DataPlane needs a configuration object");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    std::string error;
    uint32_t tableHandle = 0;
    if (!GetUint(o, "table", tableHandle, 0xFFFFFFFFu, error)) {
      ThrowType(env, error);
      return;
    }
    std::shared_ptr<demux::FlowTable> table = demux::FindTable(tableHandle);
    if (!table) {
      ThrowError(env, "no live flow table with handle " + std::to_string(tableHandle));
      return;
    }
    io::VxlanUplinkConfig u;
    if (o.Has("bind")) u.bindAddress = o.Get("bind").ToString().Utf8Value();
    if (o.Has("netns") && !o.Get("netns").IsUndefined()) u.netns = o.Get("netns").ToString().Utf8Value();
    uint32_t port = u.port, routerPort = u.routerPort, threads = u.queues, batch = u.batch;
    DataPlaneOptions d;
    uint32_t idleSpins = d.idleSpins, sampleCapacity = 4096, alarmCapacity = 1024, alarmPackets = d.alarmPacketsPerVi;
    if (!GetUint(o, "port", port, 65535, error) || !GetUint(o, "routerPort", routerPort, 65535, error) ||
        !GetUint(o, "threads", threads, 64, error) || !GetUint(o, "batch", batch, 1024, error) ||
        !GetUint(o, "idleSpins", idleSpins, 0xFFFFFFFFu, error) || !GetUint(o, "sampleCapacity", sampleCapacity, 1u << 20, error) ||
        !GetUint(o, "alarmCapacity", alarmCapacity, 1u << 20, error) || !GetUint(o, "alarmPacketsPerVi", alarmPackets, 1u << 16, error)) {
      {
      ThrowType(env, error);
      return;
    }
    }
    u.port = static_cast<uint16_t>(port);
    u.routerPort = static_cast<uint16_t>(routerPort);
    u.queues = threads;
    u.batch = batch;
    if (o.Has("routers") && o.Get("routers").IsArray()) {
      Napi::Array a = o.Get("routers").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) u.routers.push_back(a.Get(i).ToString().Utf8Value());
    }
    if (o.Has("vnis") && o.Get("vnis").IsArray()) {
      Napi::Array a = o.Get("vnis").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) u.vnis.push_back(a.Get(i).ToNumber().Uint32Value());
    }
    d.busyPoll = o.Has("busyPoll") && o.Get("busyPoll").ToBoolean().Value();
    d.idleSpins = idleSpins;
    d.sampleCapacity = std::max<uint32_t>(sampleCapacity, 1);
    d.alarmCapacity = std::max<uint32_t>(alarmCapacity, 1);
    d.alarmPacketsPerVi = alarmPackets;
    auto uplink = io::VxlanUplink::Open(u, error);
    if (!uplink) {
      ThrowError(env, "uplink: " + error);
      return;
    }
    boundPort_ = uplink->boundPort();
    plane_ = DataPlane::Start(std::move(table), std::move(uplink), d, error);
    if (!plane_) {
      ThrowError(env, error);
      return;
    }
  }

 private:
  bool Live(Napi::Env env) {
    if (plane_) return true;
    ThrowError(env, "the data plane is stopped");
    return false;
  }
  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), boundPort_); }
  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), plane_ ? plane_->threads() : 0); }

  // addRingPort(viId, socketPath, slots, slotBytes, egress)
  Napi::Value AddRingPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    EgressPolicy egress;
    std::string error;
    if (!ParseEgress(info[4], egress, error)) return ThrowType(env, error), env.Undefined();
    if (!plane_->AddRingPort(info[0].ToNumber().Uint32Value(), info[2].ToNumber().Uint32Value(), info[3].ToNumber().Uint32Value(),
                             info[1].ToString().Utf8Value(), egress, error)) {
      ThrowError(env, "ring port for VI " + std::to_string(info[0].ToNumber().Uint32Value()) + ": " + error);
    }
    return env.Undefined();
  }

  // addTapPort(viId, name, netns, bump, egress) -> ifname (or "in,out")
  Napi::Value AddTapPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    EgressPolicy egress;
    std::string error, ifname;
    if (!ParseEgress(info[4], egress, error)) return ThrowType(env, error), env.Undefined();
    if (!plane_->AddTapPort(info[0].ToNumber().Uint32Value(), info[1].ToString().Utf8Value(), info[2].ToString().Utf8Value(),
                            info[3].ToBoolean().Value(), egress, ifname, error)) {
      ThrowError(env, "tap port for VI " + std::to_string(info[0].ToNumber().Uint32Value()) + ": " + error);
      return env.Undefined();
    }
    return Napi::String::New(env, ifname);
  }

  Napi::Value ClosePort(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), plane_ && plane_->ClosePort(info[0].ToNumber().Uint32Value()));
  }

  Napi::Value SetLimits(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), plane_ && plane_->SetLimits(info[0].ToNumber().Uint32Value(), info[1].ToNumber().DoubleValue(),
                                                                       info[2].ToNumber().DoubleValue()));
  }

  Napi::Value SetEgress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EgressPolicy egress;
    std::string error;
    if (!ParseEgress(info[1], egress, error)) return ThrowType(env, error), env.Undefined();
    return Napi::Boolean::New(env, plane_ && plane_->SetEgress(info[0].ToNumber().Uint32Value(), egress));
  }

  Napi::Value SetQuarantined(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), plane_ && plane_->SetQuarantined(info[0].ToNumber().Uint32Value(), info[1].ToBoolean().Value()));
  }

  // viCounters(viId, out: Float64Array(kViFields)) -> false when no such port
  Napi::Value ViCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    double* out = TypedData<double>(info[1], napi_float64_array, length);
    if (out == nullptr || length < kViFields) return ThrowType(env, "out must be a Float64Array of " + std::to_string(kViFields)), env.Undefined();
    uint64_t c[2][2 + kViDropCount];
    if (!plane_ || !plane_->ReadViCounters(info[0].ToNumber().Uint32Value(), c)) return Napi::Boolean::New(env, false);
    for (size_t d = 0; d < 2; ++d) {
      for (size_t f = 0; f < 2 + kViDropCount; ++f) out[d * (2 + kViDropCount) + f] = static_cast<double>(c[d][f]);
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Totals(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    double* out = TypedData<double>(info[0], napi_float64_array, length);
    if (out == nullptr || length < kTotalsFields) return ThrowType(env, "out must be a Float64Array of " + std::to_string(kTotalsFields)), env.Undefined();
    if (!Live(env)) return env.Undefined();
    const DataPlaneTotals t = plane_->Totals();
    const double fixed[] = {double(t.uplink.rxPackets), double(t.uplink.rxBytes), double(t.uplink.txPackets), double(t.uplink.txBytes),
                            double(t.uplink.txErrors), double(t.uplink.socketDrops), double(t.legacy), double(t.ruleDrops),
                            double(t.missed), double(t.noPort), double(t.fromVi), double(t.samplesTaken), double(t.samplesLost),
                            double(t.alarmsLost)};
    size_t i = 0;
    for (double f : fixed) out[i++] = f;
    for (; i < kTotalsFixed; ++i) out[i] = 0;
    for (size_t d = 0; d < io::kUplinkDropCount; ++d) out[i++] = double(t.uplink.drops[d]);
    for (size_t e = 0; e < parse::kParseErrorCount; ++e) out[i++] = double(t.innerMalformed[e]);
    return env.Undefined();
  }

  Napi::Value DrainSamples(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    uint8_t* out = TypedData<uint8_t>(info[0], napi_uint8_array, length);
    if (out == nullptr) return ThrowType(env, "out must be a Uint8Array"), env.Undefined();
    return Napi::Number::New(env, plane_ ? double(plane_->DrainSamples(out, length / kSampleRecordBytes)) : 0);
  }

  Napi::Value DrainAlarms(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    uint8_t* out = TypedData<uint8_t>(info[0], napi_uint8_array, length);
    if (out == nullptr) return ThrowType(env, "out must be a Uint8Array"), env.Undefined();
    return Napi::Number::New(env, plane_ ? double(plane_->DrainAlarms(out, length / kAlarmRecordBytes)) : 0);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    plane_.reset();  // joins the threads, closes every port and the uplink
    return info.Env().Undefined();
  }

  std::unique_ptr<DataPlane> plane_;
  uint16_t boundPort_ = 0;
};

// The VI side of a ring port. Blocking calls: a VI's batch loop runs in its
// own process or worker thread.
class RingClientWrap : public Napi::ObjectWrap<RingClientWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RingClient",
                       {InstanceMethod<&RingClientWrap::Receive>("receive"), InstanceMethod<&RingClientWrap::Send>("send"),
                        InstanceMethod<&RingClientWrap::Geometry>("geometry"), InstanceMethod<&RingClientWrap::Close>("close")});
  }

  // new RingClient(socketPath, timeoutMs)
  explicit RingClientWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingClientWrap>(info) {
    Napi::Env env = info.Env();
    const std::string path = info[0].ToString().Utf8Value();
    const int timeoutMs = info[1].IsNumber() ? info[1].ToNumber().Int32Value() : 5000;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
      ThrowType(env, "ring socket path too long or empty: " + path);
      return;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    std::string error;
    for (;;) {
      const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        pollfd p{s, POLLIN, 0};
        const bool ready = poll(&p, 1, timeoutMs) > 0;
        pair_ = std::make_unique<io::RingPair>();
        const bool ok = ready && io::ReceiveRingPair(s, *pair_, error);
        close(s);
        if (ok) return;
        {
      ThrowError(env, "ring handoff from " + path + ": " + (ready ? error : "no answer"));
      return;
    }
      }
      error = strerror(errno);
      if (s >= 0) close(s);
      if (std::chrono::steady_clock::now() > deadline) {
      ThrowError(env, "cannot connect to ring socket " + path + ": " + error);
      return;
    }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  bool Open(Napi::Env env) {
    if (pair_ && pair_->memfd() >= 0) return true;
    ThrowError(env, "the ring client is closed");
    return false;
  }

  // receive(buffer, offsets, lengths, meta(3 per packet), max, spins, timeoutMs) -> count
  // Copies up to max frames packed into buffer; meta: vni, ruleId, vtep | flags << 16.
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    size_t bl = 0, ol = 0, ll = 0, ml = 0;
    uint8_t* buffer = TypedData<uint8_t>(info[0], napi_uint8_array, bl);
    uint32_t* offsets = TypedData<uint32_t>(info[1], napi_uint32_array, ol);
    uint32_t* lengths = TypedData<uint32_t>(info[2], napi_uint32_array, ll);
    uint32_t* meta = TypedData<uint32_t>(info[3], napi_uint32_array, ml);
    if (!buffer || !offsets || !lengths || !meta) return ThrowType(env, "receive(Uint8Array, Uint32Array, Uint32Array, Uint32Array, ...)"), env.Undefined();
    const size_t max = std::min<size_t>({info[4].ToNumber().Uint32Value(), ol, ll, ml / 3});
    io::PacketRing& ring = pair_->ring(io::RingPair::kToVi);
    uint32_t avail = ring.Available();
    if (avail == 0) avail = ring.Wait(info[5].ToNumber().Uint32Value(), info[6].ToNumber().Int32Value());
    size_t n = 0, at = 0;
    for (; n < std::min<size_t>(avail, max); ++n) {
      const uint8_t* slot = ring.ConsumerSlot(static_cast<uint32_t>(n));
      io::SlotMeta m;
      std::memcpy(&m, slot, sizeof m);
      const uint32_t len = std::min(m.length, ring.maxFrame());
      if (at + len > bl) break;  // the rest waits for the next call
      std::memcpy(buffer + at, slot + sizeof m, len);
      offsets[n] = static_cast<uint32_t>(at);
      lengths[n] = len;
      meta[3 * n] = m.vni;
      meta[3 * n + 1] = m.ruleId;
      meta[3 * n + 2] = uint32_t{m.vtep} | (uint32_t{m.flags} << 16);
      at += len;
    }
    ring.Release(static_cast<uint32_t>(n));
    return Napi::Number::New(env, double(n));
  }

  // send(buffer, offsets, lengths, meta(3 per packet), count, timeoutMs) -> frames accepted
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    size_t bl = 0, ol = 0, ll = 0, ml = 0;
    const uint8_t* buffer = TypedData<uint8_t>(info[0], napi_uint8_array, bl);
    const uint32_t* offsets = TypedData<uint32_t>(info[1], napi_uint32_array, ol);
    const uint32_t* lengths = TypedData<uint32_t>(info[2], napi_uint32_array, ll);
    const uint32_t* meta = TypedData<uint32_t>(info[3], napi_uint32_array, ml);
    if (!buffer || !offsets || !lengths || !meta) return ThrowType(env, "send(Uint8Array, Uint32Array, Uint32Array, Uint32Array, ...)"), env.Undefined();
    const size_t count = std::min<size_t>({info[4].ToNumber().Uint32Value(), ol, ll, ml / 3});
    for (size_t i = 0; i < count; ++i) {
      if (uint64_t{offsets[i]} + lengths[i] > bl) {
        Napi::RangeError::New(env, "frame " + std::to_string(i) + " ends past the buffer").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    const int timeoutMs = info[5].IsNumber() ? info[5].ToNumber().Int32Value() : 0;
    io::PacketRing& ring = pair_->ring(io::RingPair::kFromVi);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    size_t done = 0;
    while (done < count) {
      const uint32_t free = ring.Free();
      uint32_t put = 0;
      for (; put < free && done + put < count; ++put) {
        const size_t i = done + put;
        const uint32_t len = std::min(lengths[i], ring.maxFrame());
        uint8_t* slot = ring.ProducerSlot(put);
        const io::SlotMeta m{len, meta[3 * i], meta[3 * i + 1], static_cast<uint16_t>(meta[3 * i + 2] & 0xFFFF),
                             static_cast<uint16_t>(meta[3 * i + 2] >> 16)};
        std::memcpy(slot, &m, sizeof m);
        std::memcpy(slot + sizeof m, buffer + offsets[i], len);
      }
      if (put != 0) ring.Publish(put);
      done += put;
      if (done == count || std::chrono::steady_clock::now() >= deadline) break;
      // The data plane drains a full ring within microseconds unless it is
      // stalled; wait a little rather than spin a core.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    return Napi::Number::New(env, double(done));
  }

  Napi::Value Geometry(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("viId", pair_->header().viId);
    o.Set("slots", pair_->header().slots);
    o.Set("slotBytes", pair_->header().slotBytes);
    o.Set("maxFrame", pair_->ring(io::RingPair::kToVi).maxFrame());
    return o;
  }

  // Unmaps the rings and closes the fds now rather than at garbage collection.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    pair_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<io::RingPair> pair_;
};

// runLoad({ netns, bind, port, target, targetPort, vni, frame, pps, seconds }) ->
// { sent, received, p50Us, p99Us, seconds }. Blocks for the run (benchmarks).
Napi::Value RunLoadBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "runLoad needs a configuration object"), env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  LoadConfig c;
  auto str = [&](const char* k) { return o.Has(k) && !o.Get(k).IsUndefined() ? o.Get(k).ToString().Utf8Value() : std::string(); };
  c.netns = str("netns");
  c.bind = str("bind");
  c.target = str("target");
  c.port = static_cast<uint16_t>(o.Get("port").ToNumber().Uint32Value());
  c.targetPort = static_cast<uint16_t>(o.Get("targetPort").ToNumber().Uint32Value());
  c.vni = o.Get("vni").ToNumber().Uint32Value();
  c.pps = o.Get("pps").ToNumber().DoubleValue();
  c.seconds = o.Get("seconds").ToNumber().DoubleValue();
  size_t length = 0;
  const uint8_t* frame = TypedData<uint8_t>(o.Get("frame"), napi_uint8_array, length);
  if (frame == nullptr) return ThrowType(env, "frame must be a Uint8Array"), env.Undefined();
  c.frame.assign(frame, frame + length);
  if (!(c.pps > 0) || !(c.seconds > 0)) return ThrowType(env, "pps and seconds must be positive"), env.Undefined();
  LoadResult r;
  std::string error;
  if (!RunLoad(c, r, error)) return ThrowError(env, "load generator: " + error), env.Undefined();
  Napi::Object out = Napi::Object::New(env);
  out.Set("sent", double(r.sent));
  out.Set("received", double(r.received));
  out.Set("p50Us", r.p50Us);
  out.Set("p99Us", r.p99Us);
  out.Set("seconds", r.seconds);
  return out;
}

Napi::Array Names(Napi::Env env, size_t n, const char* (*name)(size_t)) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, name(i)));
  return a;
}

}  // namespace

void RegisterBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("DataPlane", DataPlaneWrap::Define(env));
  o.Set("RingClient", RingClientWrap::Define(env));
  o.Set("runLoad", Napi::Function::New<RunLoadBinding>(env, "runLoad"));
  o.Set("viDropNames", Names(env, kViDropCount, [](size_t i) { return ViDropName(static_cast<ViDrop>(i)); }));
  o.Set("uplinkDropNames", Names(env, io::kUplinkDropCount, [](size_t i) { return io::UplinkDropName(static_cast<io::UplinkDrop>(i)); }));
  o.Set("totalsFixedFields", Napi::Number::New(env, kTotalsFixed));
  o.Set("sampleRecordSize", Napi::Number::New(env, kSampleRecordBytes));
  o.Set("alarmRecordSize", Napi::Number::New(env, kAlarmRecordBytes));
  exports.Set("dataplane", o);
}

}  // namespace pcloud::dataplane
