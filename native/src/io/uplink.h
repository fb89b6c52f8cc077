// The cloudlet's link to its front-end router, as the data plane sees it:
// batches of decapsulated inner frames in, batches of frames to encapsulate
// out. The UDP VXLAN socket (vxlanUplink.h) is one implementation; an AF_XDP
// or DPDK uplink on a real NIC implements the same class, and nothing above
// this file changes.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pcloud::io {

// Why the uplink refused a datagram before the inner frame was parsed.
// Names (UplinkDropName) are what the TypeScript API reports.
enum class UplinkDrop : uint8_t {
  kShortVxlan = 0,    // fewer than 8 bytes: no room for the VXLAN header
  kVxlanFlagNotSet,   // the I flag (RFC 7348 section 5) is clear
  kTruncatedInner,    // VXLAN header present but the inner frame is shorter than an Ethernet header
  kOversize,          // larger than a receive slot (the kernel truncated it)
  kUnknownVni,        // a VNI this cloudlet does not serve
  kUnknownVtep,       // sent from an address that is not one of our routers' VTEPs
  kCount,
};
inline constexpr size_t kUplinkDropCount = static_cast<size_t>(UplinkDrop::kCount);
const char* UplinkDropName(UplinkDrop d);

// One received inner frame. `frame` stays valid until the next Receive on
// the same queue.
struct RxPacket {
  uint8_t* frame;
  uint32_t length;
  uint32_t vni;
  uint16_t vtep;  // index of the router VTEP it came from (config order)
};

// One frame to send: encapsulated with `vni` towards router VTEP `vtep`.
struct TxPacket {
  const uint8_t* frame;
  uint32_t length;
  uint32_t vni;
  uint16_t vtep;
};

// Single writer per queue (its data-plane thread); read with relaxed loads.
struct alignas(64) UplinkQueueCounters {
  std::atomic<uint64_t> rxPackets{0}, rxBytes{0}, txPackets{0}, txBytes{0}, txErrors{0}, socketDrops{0};
  std::array<std::atomic<uint64_t>, kUplinkDropCount> drops{};
  void Add(std::atomic<uint64_t>& c, uint64_t n) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
};

struct UplinkTotals {
  uint64_t rxPackets = 0, rxBytes = 0, txPackets = 0, txBytes = 0, txErrors = 0, socketDrops = 0;
  std::array<uint64_t, kUplinkDropCount> drops{};
};

class Uplink {
 public:
  virtual ~Uplink() = default;
  // Independent receive queues; the data plane runs one thread per queue.
  virtual unsigned queues() const = 0;
  // Up to the batch size of valid inner frames from `queue`, without blocking.
  // Refused datagrams are counted, not returned. Returns the count.
  virtual size_t Receive(unsigned queue, const RxPacket** packets) = 0;
  // Sends n frames from `queue`'s thread. Returns how many were accepted.
  virtual size_t Send(unsigned queue, const TxPacket* packets, size_t n) = 0;
  // Readable when `queue` has datagrams waiting (for epoll), or -1.
  virtual int WaitFd(unsigned queue) const = 0;
  // Frames longer than this are not sent.
  virtual uint32_t maxFrame() const = 0;
  // Whether this cloudlet serves `vni` (what a VI may send into).
  virtual bool Serves(uint32_t vni) const = 0;
  // The VNI of frames a VI sends before any frame reached it (a load balancer's
  // health checks): the first VNI configured, or 0 when every VNI is served.
  virtual uint32_t DefaultVni() const = 0;
  virtual UplinkTotals Totals() const = 0;
};

}  // namespace pcloud::io
