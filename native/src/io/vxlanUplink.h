// VXLAN (RFC 7348) over a UDP socket: the uplink to a front-end router that
// encapsulates (Open vSwitch, or the Linux kernel's vxlan device in tests).
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/uplink.h"

namespace pcloud::io {

struct VxlanUplinkConfig {
  std::string bindAddress = "0.0.0.0";
  uint16_t port = 4789;                // 0: an ephemeral port (tests)
  std::vector<std::string> routers;    // router VTEP addresses (IPv4); only these are accepted and sent to
  uint16_t routerPort = 4789;          // where the routers listen
  std::vector<uint32_t> vnis;          // served VNIs; empty: every VNI
  unsigned queues = 1;                 // sockets bound with SO_REUSEPORT, one per data-plane thread
  unsigned batch = 64;                 // datagrams per recvmmsg / sendmmsg
  int receiveBufferBytes = 4 << 20;
  // Open the sockets in this network namespace (a path such as
  // /var/run/netns/NAME); empty: the caller's. Sockets keep their namespace,
  // so the data-plane threads can run anywhere (Linux, needs CAP_SYS_ADMIN).
  std::string netns;
};

// The checks on one received datagram (its UDP payload), before anything
// else reads it: VXLAN header present with the I flag, and an inner frame
// at least an Ethernet header long. On success sets `vni`; the inner frame
// is datagram + 8, length - 8. Plain function: the fuzz target calls it.
bool DecapsulateVxlan(const uint8_t* datagram, size_t length, uint32_t& vni, UplinkDrop& why);

class VxlanUplink final : public Uplink {
 public:
  // Opens and binds the sockets; on failure returns null and says why in `error`.
  static std::unique_ptr<VxlanUplink> Open(const VxlanUplinkConfig& config, std::string& error);
  // Runs `body` on a short-lived thread that joined network namespace
  // `path` (for sockets and devices created there); false and `error` when
  // the namespace cannot be entered.
  static bool InNamespace(const std::string& path, const std::function<void()>& body, std::string& error);
  ~VxlanUplink() override;

  unsigned queues() const override { return static_cast<unsigned>(queues_.size()); }
  size_t Receive(unsigned queue, const RxPacket** packets) override;
  size_t Send(unsigned queue, const TxPacket* packets, size_t n) override;
  int WaitFd(unsigned queue) const override { return queues_[queue]->fd; }
  uint32_t maxFrame() const override { return kSlotBytes - kVxlanHeader; }
  UplinkTotals Totals() const override;
  uint16_t boundPort() const { return boundPort_; }
  bool Serves(uint32_t vni) const override;
  uint32_t DefaultVni() const override { return defaultVni_; }

  static constexpr uint32_t kVxlanHeader = 8;
  static constexpr uint32_t kSlotBytes = 9216;  // jumbo frames fit

 private:
  struct Queue {
    int fd = -1;
    uint32_t lastOverflow = 0;  // SO_RXQ_OVFL is a running count per socket
    // Receive side: recvmmsg writes msg_name, so it has its own headers
    // (sending with them would go to the last sender: pitfall 2).
    std::vector<uint8_t> arena;
    std::vector<mmsghdr> rxMsgs;
    std::vector<iovec> rxIov;
    std::vector<sockaddr_in> rxAddr;
    std::vector<std::array<uint8_t, CMSG_SPACE(sizeof(uint32_t))>> rxControl;
    std::vector<RxPacket> rx;
    std::vector<mmsghdr> txMsgs;
    std::vector<iovec> txIov;  // two per datagram: VXLAN header, frame
    std::vector<std::array<uint8_t, kVxlanHeader>> txHeader;
    UplinkQueueCounters counters;
  };
  VxlanUplink() = default;
  int RouterIndex(uint32_t addressBe) const;

  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<sockaddr_in> routers_;
  std::vector<uint32_t> vnis_;  // sorted
  uint32_t defaultVni_ = 0;     // the first configured, in the configuration's order
  unsigned batch_ = 64;
  uint16_t boundPort_ = 0;
};

}  // namespace pcloud::io
