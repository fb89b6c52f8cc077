// N-API layer of the frame parser (diagnostics and tests; the data plane and
// the flow table call the parser directly): converts arguments with the shared
// checks, parses, and writes each frame's fields into a Uint32Array.
//
// The output layout is given by name: `frameFields` lists the fields in the
// order they are written, so native/demux.ts checks its names against the
// addon's instead of trusting magic indices.
#include "parse/parseBinding.h"

#include <cstring>
#include <string>
#include <vector>

#include "parse/packetParser.h"

namespace pcloud::parse {

namespace {

using binding::View;

constexpr uint32_t kMaxFrameLength = 65535;

// One frame's fields, in output order; the names are the layout's.
constexpr const char* kFrameFields[] = {"reason", "family", "ethType", "ipProto", "srcPort", "dstPort",
                                        "src32", "dst32", "vni", "fragment", "vlanCount", "l3Offset",
                                        "l4Offset", "icmpType", "icmpCode", "inPort"};
constexpr size_t kFrameFieldCount = sizeof kFrameFields / sizeof kFrameFields[0];

// parseFrames(buffer, offsets, lengths, count, linkType, vxlanPort, out: Uint32Array(frameFields per frame))
Napi::Value ParseFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<uint8_t> buffer;
  View<uint32_t> offsets, lengths, out;
  uint32_t count, linkType, vxlanPort;
  if (!binding::TypedArrayArg(info, 0, "buffer", buffer) || !binding::TypedArrayArg(info, 1, "offsets", offsets) ||
      !binding::TypedArrayArg(info, 2, "lengths", lengths) || !binding::UintArg(info, 3, "count", count) ||
      !binding::UintArg(info, 4, "linkType", linkType) || !binding::UintArg(info, 5, "vxlanPort", vxlanPort) ||
      !binding::TypedArrayArg(info, 6, "out", out)) {
    return env.Undefined();
  }
  if (!CheckFrames(env, buffer, offsets, lengths, count)) return env.Undefined();
  if (out.length < size_t{count} * kFrameFieldCount) {
    binding::Fail(env, "out holds " + std::to_string(out.length) + " numbers; " + std::to_string(count) + " frames need " +
                           std::to_string(kFrameFieldCount) + " each");
    return env.Undefined();
  }
  if (linkType != 1 && linkType != 12) {
    binding::Fail(env, "linkType must be 1 (Ethernet) or 12 (raw IP), got " + std::to_string(linkType));
    return env.Undefined();
  }
  if (vxlanPort > 0xFFFF) {
    binding::Fail(env, "vxlanPort must be a UDP port 0..65535, got " + std::to_string(vxlanPort));
    return env.Undefined();
  }
  ParseOptions options{0, static_cast<uint16_t>(vxlanPort), static_cast<LinkType>(linkType)};
  // Through the batch parser the flow table uses, so that its short path for
  // common frames is what these results (and the tests reading them) show.
  std::vector<PacketKey> keys(count);
  std::vector<ParseError> errors(count);
  ParseFrames(buffer.data, offsets.data, lengths.data, count, options, keys.data(), errors.data());
  for (uint32_t i = 0; i < count; ++i) {
    const PacketKey& k = keys[i];
    const ParseError e = errors[i];
    const uint32_t values[kFrameFieldCount] = {
        static_cast<uint32_t>(e), k.family, k.ethType, k.dims[kProto], k.dims[kSport], k.dims[kDport],
        k.dims[kSrc], k.dims[kDst], k.vni, static_cast<uint32_t>(k.fragment), k.vlanCount, k.l3Offset,
        k.l4Offset, k.icmpType, k.icmpCode, k.inPort};
    std::memcpy(out.data + size_t{i} * kFrameFieldCount, values, sizeof values);
  }
  return env.Undefined();
}

Napi::Value ParseErrorNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env, kParseErrorCount);
  for (size_t e = 0; e < kParseErrorCount; ++e) {
    names.Set(static_cast<uint32_t>(e), Napi::String::New(env, ParseErrorName(static_cast<ParseError>(e))));
  }
  return names;
}

}  // namespace

bool CheckFrames(Napi::Env env, const View<uint8_t>& buffer, const View<uint32_t>& offsets, const View<uint32_t>& lengths,
                 uint32_t count) {
  if (count > offsets.length || count > lengths.length) {
    return binding::Fail(env, "count " + std::to_string(count) + " exceeds offsets (" + std::to_string(offsets.length) +
                                  ") or lengths (" + std::to_string(lengths.length) + ")");
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (lengths.data[i] > kMaxFrameLength) {
      return binding::Fail(env, "frame " + std::to_string(i) + " is " + std::to_string(lengths.data[i]) +
                                    " bytes; the limit is " + std::to_string(kMaxFrameLength));
    }
  }
  return binding::RegionsInside(env, "frame", "buffer", offsets.data, count, buffer.length,
                                [&](size_t i) { return uint64_t{lengths.data[i]}; });
}

void RegisterBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object parse = Napi::Object::New(env);
  parse.Set("parseFrames", Napi::Function::New<ParseFrames>(env, "parseFrames"));
  parse.Set("parseErrorNames", Napi::Function::New<ParseErrorNames>(env, "parseErrorNames"));
  Napi::Array fields = Napi::Array::New(env, kFrameFieldCount);
  for (size_t i = 0; i < kFrameFieldCount; ++i) fields.Set(static_cast<uint32_t>(i), kFrameFields[i]);
  parse.Set("frameFields", fields);
  exports.Set("parse", parse);
}

}  // namespace pcloud::parse
