// The cloudlet's data plane: threads that take VXLAN-encapsulated frames from
// the uplink, classify them with the demux flow table, and hand each to a VI
// port, back to the router (legacy), or drop it; and that take what VIs emit,
// check it, police it and send it back to the router. JavaScript configures
// ports, limits and checks, reads counters and drains samples and alarms; it
// never runs per packet.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "demux/flowTable.h"
#include "io/uplink.h"
#include "io/viRing.h"
#include "parse/packetKey.h"

namespace pcloud::dataplane {

// Why a VI port dropped a packet, per direction. Names (ViDropName) are what
// the TypeScript API reports.
enum class ViDrop : uint8_t {
  kRingFull = 0,  // to_vi: the VI is not reading fast enough (its ring or tap queue is full)
  kPoliced,       // over the VI's token bucket
  kSpoofing,      // from_vi: failed the egress check
  kTooBig,        // larger than a slot or the uplink can carry
  kPortError,     // the tap device refused a write
  kQuarantined,   // from_vi: the VI is quarantined, everything it emits is dropped
  kCount,
};
inline constexpr size_t kViDropCount = static_cast<size_t>(ViDrop::kCount);
const char* ViDropName(ViDrop d);

// Swaps source and destination (addresses, and ports when present) of the
// parsed frame in place: the reply direction of its flow, for the
// transparent egress check.
void SwapEndpoints(uint8_t* frame, const parse::PacketKey& key);

// The verdict a sample records (the order is the sample record's code).
enum class Verdict : uint8_t { kToVi = 0, kLegacy, kDrop, kForward, kSpoofing, kPoliced };

enum class Direction : uint8_t { kToVi = 0, kFromVi = 1 };

// What a VI may emit (DESIGN.md section 6).
struct EgressPolicy {
  enum class Mode : uint8_t { kUnchecked = 0, kTransparent, kVisible };
  Mode mode = Mode::kUnchecked;
  // kVisible: the VI's own addresses (IPv4 in the first 4 bytes, family 4 or 6).
  struct Address {
    uint8_t family;
    uint8_t bytes[16];
  };
  std::vector<Address> addresses;
};

// A token bucket on bits and on packets; a rate of 0 means no limit. Several
// data-plane threads may police one VI, so a tiny spinlock guards the state.
class TokenBucket {
 public:
  void SetRates(double bitsPerSecond, double packetsPerSecond);
  bool Admit(uint32_t frameBytes, uint64_t nowNs);
  double bitRate() const { return bitRate_.load(std::memory_order_relaxed); }
  double packetRate() const { return packetRate_.load(std::memory_order_relaxed); }

 private:
  std::atomic_flag lock_;
  std::atomic<double> bitRate_{0}, packetRate_{0};
  double bits_ = 0, packets_ = 0;
  uint64_t last_ = 0;
};

struct alignas(64) ViDirectionCounters {
  std::atomic<uint64_t> packets{0}, bytes{0};
  std::array<std::atomic<uint64_t>, kViDropCount> drops{};
};

struct ViPort;

struct PortMap {
  uint64_t version = 0;
  std::unordered_map<uint32_t, std::shared_ptr<ViPort>> byVi;
};

// Per data-plane thread; one writer each, summed by readers.
struct alignas(64) ThreadCounters {
  std::atomic<uint64_t> legacy{0}, ruleDrops{0}, missed{0}, noPort{0}, fromVi{0};
  std::array<std::atomic<uint64_t>, parse::kParseErrorCount> innerMalformed{};
  void Add(std::atomic<uint64_t>& c, uint64_t n) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
};

struct DataPlaneTotals {
  io::UplinkTotals uplink;
  uint64_t legacy = 0, ruleDrops = 0, missed = 0, noPort = 0, fromVi = 0;
  std::array<uint64_t, parse::kParseErrorCount> innerMalformed{};
  uint64_t samplesTaken = 0, samplesLost = 0, alarmsLost = 0;
};

// One drained sample, little-endian, kSampleRecordBytes each:
//   0 u64 time (ns since the Unix epoch)   8 u32 VI   12 u32 rule   16 u32 VNI
//  20 u32 wire length   24 u32 sampling rate (1 in N)   28 u32 drops
//  32 u64 sample pool   40 u8 direction (0 to_vi, 1 from_vi)   41 u8 verdict (Verdict)
//  42 u16 captured length   44 u32 reserved   48 u8[256] the inner frame's first bytes
inline constexpr size_t kCaptureBytes = 256;
inline constexpr size_t kSampleRecordBytes = 48 + kCaptureBytes;
// One drained alarm (an offending packet), little-endian, kAlarmRecordBytes each:
//   0 u64 time (ns since the Unix epoch)   8 u32 VI   12 u32 kind (0: spoofing)
//  16 u32 wire length   20 u16 captured length   22 u16 reserved   24 u8[256] frame
inline constexpr size_t kAlarmRecordBytes = 24 + kCaptureBytes;

// A bounded, lossy queue of fixed-size records that data-plane threads fill
// and JavaScript drains (samples and alarms). Rare, so one mutex is enough.
class RecordQueue {
 public:
  RecordQueue(size_t capacity, size_t recordBytes);
  // Null when full (the record is counted as lost).
  uint8_t* Begin();
  void Commit();  // after Begin returned non-null; releases the lock
  size_t Drain(uint8_t* out, size_t maxRecords);
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint64_t taken() const { return taken_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::vector<uint8_t> ring_;
  size_t capacity_, recordBytes_, head_ = 0, count_ = 0;
  std::atomic<uint64_t> lost_{0}, taken_{0};
};

struct DataPlaneOptions {
  bool busyPoll = false;     // never block: lowest delay, one core per thread
  uint32_t idleSpins = 64;   // empty polls before a thread blocks
  size_t sampleCapacity = 4096;
  size_t alarmCapacity = 1024;
  uint32_t alarmPacketsPerVi = 8;  // first offending packets kept as evidence per VI
};

class DataPlane {
 public:
  static std::unique_ptr<DataPlane> Start(std::shared_ptr<demux::FlowTable> table, std::unique_ptr<io::Uplink> uplink,
                                          const DataPlaneOptions& options, std::string& error);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // A ring port; a VI connects to `socketPath` (created here) to receive the
  // ring fds. Fails if the VI already has a port.
  bool AddRingPort(uint32_t viId, uint32_t slots, uint32_t slotBytes, const std::string& socketPath, const EgressPolicy& egress,
                   std::string& error);
  // A TAP device named `name` (empty: the kernel picks), created in network
  // namespace `netns` (a path; empty: this process's); returns its name. With
  // `bump` two devices, <name>in0 (packets to the VI) and <name>out0 (what
  // the VI passes through), returned as "in,out".
  bool AddTapPort(uint32_t viId, const std::string& name, const std::string& netns, bool bump, const EgressPolicy& egress,
                  std::string& ifname, std::string& error);
  // Removes the port at once from what new batches see; it closes when the
  // last batch using it finishes.
  bool ClosePort(uint32_t viId);
  bool SetLimits(uint32_t viId, double bitsPerSecond, double packetsPerSecond);
  bool SetEgress(uint32_t viId, const EgressPolicy& egress);
  // Quarantine: to_vi traffic goes legacy as if the VI had no port, and
  // everything it emits is dropped and counted (ViDrop::kQuarantined).
  bool SetQuarantined(uint32_t viId, bool quarantined);
  // packets, bytes, drops by ViDrop, per direction; false if no such port.
  bool ReadViCounters(uint32_t viId, uint64_t out[2][2 + kViDropCount]) const;
  DataPlaneTotals Totals() const;
  size_t DrainSamples(uint8_t* out, size_t maxRecords) { return samples_.Drain(out, maxRecords); }
  size_t DrainAlarms(uint8_t* out, size_t maxRecords) { return alarms_.Drain(out, maxRecords); }
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

  void Stop();

 private:
  DataPlane(std::shared_ptr<demux::FlowTable> table, std::unique_ptr<io::Uplink> uplink, const DataPlaneOptions& options);
  struct Worker;
  std::shared_ptr<const PortMap> Ports() const;
  bool InstallPort(std::shared_ptr<ViPort> port, std::string& error);
  std::shared_ptr<ViPort> FindPort(uint32_t viId) const;
  void Run(unsigned queue);
  void WakeAll();
  void FromRouter(Worker& w, const io::RxPacket* packets, size_t n, const PortMap& ports);
  size_t FromVi(Worker& w, ViPort& port);
  void Sample(Direction direction, Verdict verdict, uint32_t viId, uint32_t ruleId, uint32_t vni, uint32_t rate, uint64_t pool,
              const uint8_t* frame, uint32_t length);
  void Alarm(ViPort& port, const uint8_t* frame, uint32_t length);

  std::shared_ptr<demux::FlowTable> table_;
  std::unique_ptr<io::Uplink> uplink_;
  const DataPlaneOptions options_;
  std::atomic<bool> running_{true};
  std::vector<int> wakeFds_;  // one per thread: stop, or the port map changed
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<ThreadCounters>> counters_;

  mutable std::mutex portsMutex_;  // guards the ports_ pointer swap and writers
  std::shared_ptr<const PortMap> ports_;
  RecordQueue samples_;
  RecordQueue alarms_;
};

}  // namespace pcloud::dataplane
