// Policing and egress checks: the per-VI token buckets, and the check that a
// VI emits only what it may (DESIGN.md section 6): a transparent service only
// packets its own rules capture, as sent or as their reply; a visible service
// only from its own addresses.
#include <algorithm>
#include <cstring>

#include "dataplane/dataPlane.h"
#include "dataplane/dataPlaneInternal.h"
#include "parse/packetParser.h"

namespace pcloud::dataplane {

void TokenBucket::SetRates(double bitsPerSecond, double packetsPerSecond) {
  while (lock_.test_and_set(std::memory_order_acquire)) {
  }
  bitRate_.store(bitsPerSecond, std::memory_order_relaxed);
  packetRate_.store(packetsPerSecond, std::memory_order_relaxed);
  last_ = 0;  // refill to a full burst at the next packet
  lock_.clear(std::memory_order_release);
}

bool TokenBucket::Admit(uint32_t frameBytes, uint64_t nowNs) {
  const double bitRate = bitRate_.load(std::memory_order_relaxed);
  const double packetRate = packetRate_.load(std::memory_order_relaxed);
  if (bitRate <= 0 && packetRate <= 0) return true;
  // A 50 ms burst: senders and routers batch, so arrivals come in clumps; a
  // smaller bucket would police a conforming but clumpy flow below its cap.
  // Over a measurement of seconds it lets at most 50 ms worth through extra.
  const double bitBurst = std::max(bitRate * 0.05, 4 * 1518 * 8.0);
  const double packetBurst = std::max(packetRate * 0.05, 4.0);
  while (lock_.test_and_set(std::memory_order_acquire)) {
  }
  if (last_ == 0) {
    bits_ = bitBurst;
    packets_ = packetBurst;
  } else {
    const double seconds = double(nowNs - std::min(nowNs, last_)) * 1e-9;
    bits_ = std::min(bitBurst, bits_ + seconds * bitRate);
    packets_ = std::min(packetBurst, packets_ + seconds * packetRate);
  }
  last_ = nowNs;
  const double bits = double(frameBytes) * 8;
  const bool ok = (bitRate <= 0 || bits_ >= bits) && (packetRate <= 0 || packets_ >= 1);
  if (ok) {
    if (bitRate > 0) bits_ -= bits;
    if (packetRate > 0) packets_ -= 1;
  }
  lock_.clear(std::memory_order_release);
  return ok;
}

// Swaps source and destination (addresses and ports) of an IP frame in
// place: the reply direction of the same flow, for the transparent egress
// check. Frames that are not IP stay as they are.
void SwapEndpoints(uint8_t* frame, const parse::PacketKey& k) {
  if (k.family == 4) {
    uint8_t* ip = frame + k.l3Offset;
    uint8_t t[4];
    std::memcpy(t, ip + 12, 4);
    std::memmove(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, t, 4);
  } else if (k.family == 6) {
    uint8_t* ip = frame + k.l3Offset;
    uint8_t t[16];
    std::memcpy(t, ip + 8, 16);
    std::memmove(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, t, 16);
  }
  if (k.l4Offset != 0 && k.dims[parse::kSport] != parse::kNoPort) {
    uint8_t* l4 = frame + k.l4Offset;
    uint8_t t[2];
    std::memcpy(t, l4, 2);
    std::memmove(l4, l4 + 2, 2);
    std::memcpy(l4 + 2, t, 2);
  }
}

// Sets ok[i] for the n frames the VI emitted (in w.egressFrame/egressMeta):
// true when its policy lets frame i out. For transparent VIs, the rule that
// captured a frame (or its reply) replaces w.ruleIds[i] and w.rates[i].
void DataPlane::CheckEgress(Worker& w, ViPort& port, size_t n, bool* ok) {
  // Classify what the VI emitted (looking up only; per-rule
  // counters count what the router sent).
  const std::shared_ptr<const EgressPolicy> policy = port.Egress();
  const uint8_t* base = w.egressFrame[0];
  for (size_t i = 1; i < n; ++i) base = std::min(base, w.egressFrame[i]);
  for (size_t i = 0; i < n; ++i) {
    w.offsets[i] = static_cast<uint32_t>(w.egressFrame[i] - base);
    w.lengths[i] = w.egressMeta[i].length;
    w.vnis[i] = w.egressMeta[i].vni == kNoVniSeen ? parse::kNoVni : w.egressMeta[i].vni;
  }
  demux::BatchOptions options;
  options.direction = 1;
  options.countRules = false;
  options.vnis = w.vnis;
  demux::BatchOutput out{w.actions, w.ruleIds, w.viIds, w.reasons, w.rates};
  table_->ClassifyBatch(base, w.offsets, w.lengths, n, options, out);
  auto capturedBy = [&](size_t i) {
    return static_cast<demux::Action>(w.actions[i]) == demux::Action::kToVi && w.viIds[i] == port.viId;
  };
  for (size_t i = 0; i < n; ++i) ok[i] = w.lengths[i] >= 14;
  if (policy->mode == EgressPolicy::Mode::kTransparent) {
    // Not captured as sent: try the reply direction on a copy.
    uint32_t sOff[kBatch], sLen[kBatch], sVni[kBatch], sRule[kBatch], sVi[kBatch], sRate[kBatch];
    uint8_t sAct[kBatch], sWhy[kBatch];
    size_t sIdx[kBatch], m = 0, used = 0;
    size_t need = 0;
    for (size_t i = 0; i < n; ++i) need += w.lengths[i];
    if (w.swapped.size() < need) w.swapped.resize(need);
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i] || capturedBy(i)) continue;
      parse::PacketKey k;
      const parse::ParseOptions po{0, 0, parse::LinkType::kEthernet};
      uint8_t* copy = w.swapped.data() + used;
      std::memcpy(copy, w.egressFrame[i], w.lengths[i]);
      if (parse::ParseFrame(copy, w.lengths[i], po, k) == parse::ParseError::kNone) SwapEndpoints(copy, k);
      sOff[m] = static_cast<uint32_t>(used);
      sLen[m] = w.lengths[i];
      sVni[m] = w.vnis[i];
      sIdx[m++] = i;
      used += w.lengths[i];
    }
    if (m != 0) {
      demux::BatchOptions so = options;
      so.vnis = sVni;
      demux::BatchOutput sout{sAct, sRule, sVi, sWhy, sRate};
      table_->ClassifyBatch(w.swapped.data(), sOff, sLen, m, so, sout);
      for (size_t j = 0; j < m; ++j) {
        const bool captured = static_cast<demux::Action>(sAct[j]) == demux::Action::kToVi && sVi[j] == port.viId;
        ok[sIdx[j]] = captured;
        if (captured) {
          w.ruleIds[sIdx[j]] = sRule[j];
          w.rates[sIdx[j]] = sRate[j];
        }
      }
    }
  } else if (policy->mode == EgressPolicy::Mode::kVisible) {
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i]) continue;
      parse::PacketKey k;
      const parse::ParseOptions po{0, 0, parse::LinkType::kEthernet};
      bool own = false;
      if (parse::ParseFrame(w.egressFrame[i], w.lengths[i], po, k) == parse::ParseError::kNone && k.family != 0) {
        for (const EgressPolicy::Address& a : policy->addresses) {
          if (a.family == k.family && std::memcmp(a.bytes, k.src, k.family == 4 ? 4 : 16) == 0) own = true;
        }
      }
      ok[i] = own;
    }
  }
}

}  // namespace pcloud::dataplane
