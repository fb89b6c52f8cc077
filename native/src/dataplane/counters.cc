// Counters, samples and alarms: what the data-plane threads count per VI and
// per thread, and the bounded, lossy queues of samples and offending packets
// that JavaScript drains.
#include <algorithm>
#include <cstring>

#include "dataplane/dataPlane.h"
#include "dataplane/dataPlaneInternal.h"

namespace pcloud::dataplane {

const char* ViDropName(ViDrop d) {
  switch (d) {
    case ViDrop::kRingFull: return "ring_full";
    case ViDrop::kPoliced: return "policed";
    case ViDrop::kSpoofing: return "spoofing";
    case ViDrop::kTooBig: return "too_big";
    case ViDrop::kPortError: return "port_error";
    case ViDrop::kQuarantined: return "quarantined";
    case ViDrop::kCount: break;
  }
  return "unknown";
}

// ---------------------------------------------------------------- records

RecordQueue::RecordQueue(size_t capacity, size_t recordBytes)
    : ring_(std::max<size_t>(capacity, 1) * recordBytes), capacity_(std::max<size_t>(capacity, 1)), recordBytes_(recordBytes) {}

uint8_t* RecordQueue::Begin() {
  mutex_.lock();
  if (count_ == capacity_) {
    mutex_.unlock();
    lost_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  uint8_t* r = ring_.data() + ((head_ + count_) % capacity_) * recordBytes_;
  std::memset(r, 0, recordBytes_);
  return r;
}

void RecordQueue::Commit() {
  ++count_;
  taken_.fetch_add(1, std::memory_order_relaxed);
  mutex_.unlock();
}

size_t RecordQueue::Drain(uint8_t* out, size_t maxRecords) {
  std::lock_guard lock(mutex_);
  const size_t n = std::min(maxRecords, count_);
  for (size_t i = 0; i < n; ++i) std::memcpy(out + i * recordBytes_, ring_.data() + ((head_ + i) % capacity_) * recordBytes_, recordBytes_);
  head_ = (head_ + n) % capacity_;
  count_ -= n;
  return n;
}

bool DataPlane::ReadViCounters(uint32_t viId, uint64_t out[2][2 + kViDropCount]) const {
  auto port = FindPort(viId);
  if (!port) return false;
  for (int d = 0; d < 2; ++d) {
    const ViDirectionCounters& c = port->counters[d];
    out[d][0] = c.packets.load(std::memory_order_relaxed);
    out[d][1] = c.bytes.load(std::memory_order_relaxed);
    for (size_t r = 0; r < kViDropCount; ++r) out[d][2 + r] = c.drops[r].load(std::memory_order_relaxed);
  }
  return true;
}

DataPlaneTotals DataPlane::Totals() const {
  DataPlaneTotals t;
  t.uplink = uplink_->Totals();
  for (const auto& c : counters_) {
    t.legacy += c->legacy.load(std::memory_order_relaxed);
    t.ruleDrops += c->ruleDrops.load(std::memory_order_relaxed);
    t.missed += c->missed.load(std::memory_order_relaxed);
    t.noPort += c->noPort.load(std::memory_order_relaxed);
    t.fromVi += c->fromVi.load(std::memory_order_relaxed);
    for (size_t e = 0; e < parse::kParseErrorCount; ++e) t.innerMalformed[e] += c->innerMalformed[e].load(std::memory_order_relaxed);
  }
  t.samplesTaken = samples_.taken();
  t.samplesLost = samples_.lost();
  t.alarmsLost = alarms_.lost();
  return t;
}

// ---------------------------------------------------------------- samples

void DataPlane::Sample(Direction direction, Verdict verdict, uint32_t viId, uint32_t ruleId, uint32_t vni, uint32_t rate,
                       uint64_t pool, const uint8_t* frame, uint32_t length) {
  const uint64_t now = RealtimeNs();
  const uint32_t drops = static_cast<uint32_t>(samples_.lost());
  uint8_t* r = samples_.Begin();
  if (r == nullptr) return;
  const uint16_t captured = static_cast<uint16_t>(std::min<size_t>(length, kCaptureBytes));
  Put64(r, now);
  Put32(r + 8, viId);
  Put32(r + 12, ruleId);
  Put32(r + 16, vni);
  Put32(r + 20, length);
  Put32(r + 24, rate);
  Put32(r + 28, drops);
  Put64(r + 32, pool);
  r[40] = static_cast<uint8_t>(direction);
  r[41] = static_cast<uint8_t>(verdict);
  Put16(r + 42, captured);
  std::memcpy(r + 48, frame, captured);
  samples_.Commit();
}

void DataPlane::Alarm(ViPort& port, const uint8_t* frame, uint32_t length) {
  // Only the first offending packets are evidence; the rest are counted.
  uint32_t left = port.alarmsLeft.load(std::memory_order_relaxed);
  do {
    if (left == 0) return;
  } while (!port.alarmsLeft.compare_exchange_weak(left, left - 1, std::memory_order_relaxed));
  uint8_t* r = alarms_.Begin();
  if (r == nullptr) return;
  const uint16_t captured = static_cast<uint16_t>(std::min<size_t>(length, kCaptureBytes));
  Put64(r, RealtimeNs());
  Put32(r + 8, port.viId);
  Put32(r + 12, 0);
  Put32(r + 16, length);
  Put16(r + 20, captured);
  std::memcpy(r + 24, frame, captured);
  alarms_.Commit();
}

}  // namespace pcloud::dataplane
