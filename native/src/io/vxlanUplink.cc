// VXLAN uplink on UDP sockets, batched with recvmmsg / sendmmsg.
//
// Choices:
// - One socket per data-plane thread, all bound to the same address with
//   SO_REUSEPORT: the kernel spreads datagrams by 4-tuple hash, and a router
//   picks the UDP source port from the inner flow's hash (RFC 7348 section
//   5), so one inner flow stays on one thread and keeps its order.
// - The outer UDP checksum may be zero (RFC 7348): the kernel accepts that on
//   IPv4 by itself. Sending, the kernel fills it in.
// - Receive slots are fixed (kSlotBytes); MSG_TRUNC tells a larger datagram,
//   which is refused as oversize rather than half-classified.
// - SO_RXQ_OVFL reports the socket's running drop count in every message;
//   the difference to the last value seen is what overflowed meanwhile.
#include "io/vxlanUplink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <sched.h>

#include <algorithm>
#include <thread>
#include <cerrno>
#include <cstring>

namespace pcloud::io {

const char* UplinkDropName(UplinkDrop d) {
  switch (d) {
    case UplinkDrop::kShortVxlan: return "short_vxlan";
    case UplinkDrop::kVxlanFlagNotSet: return "vxlan_flag_not_set";
    case UplinkDrop::kTruncatedInner: return "truncated_inner";
    case UplinkDrop::kOversize: return "oversize";
    case UplinkDrop::kUnknownVni: return "unknown_vni";
    case UplinkDrop::kUnknownVtep: return "unknown_vtep";
    case UplinkDrop::kCount: break;
  }
  return "unknown";
}

bool VxlanUplink::InNamespace(const std::string& path, const std::function<void()>& body, std::string& error) {
#if defined(__linux__)
  bool entered = false;
  std::thread t([&] {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = "network namespace " + path + ": " + strerror(errno);
      return;
    }
    // setns affects only this thread, which ends right after `body`.
    if (setns(fd, CLONE_NEWNET) != 0) {
      error = "setns " + path + ": " + strerror(errno);
      close(fd);
      return;
    }
    close(fd);
    entered = true;
    body();
  });
  t.join();
  return entered;
#else
  (void)body;
  error = "network namespaces exist only on Linux (" + path + ")";
  return false;
#endif
}

std::unique_ptr<VxlanUplink> VxlanUplink::Open(const VxlanUplinkConfig& config, std::string& error) {
  if (!config.netns.empty()) {
    VxlanUplinkConfig here = config;
    here.netns.clear();
    std::unique_ptr<VxlanUplink> u;
    std::string inner;
    if (!InNamespace(config.netns, [&] { u = Open(here, inner); }, error)) return nullptr;
    if (!u) error = inner;
    return u;
  }
  std::unique_ptr<VxlanUplink> u(new VxlanUplink());
  if (config.queues == 0 || config.queues > 64) return error = "queues must be 1..64", nullptr;
  if (config.batch == 0 || config.batch > 1024) return error = "batch must be 1..1024", nullptr;
  if (config.routers.empty()) return error = "at least one router VTEP address is needed", nullptr;
  u->batch_ = config.batch;
  for (const std::string& r : config.routers) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(config.routerPort);
    if (inet_pton(AF_INET, r.c_str(), &a.sin_addr) != 1) return error = "router VTEP '" + r + "' is not an IPv4 address", nullptr;
    u->routers_.push_back(a);
  }
  for (uint32_t v : config.vnis) {
    if (v > 0xFFFFFF) return error = "VNI " + std::to_string(v) + " does not fit in 24 bits", nullptr;
  }
  u->vnis_ = config.vnis;
  u->defaultVni_ = config.vnis.empty() ? 0 : config.vnis.front();
  std::sort(u->vnis_.begin(), u->vnis_.end());
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(config.port);
  if (inet_pton(AF_INET, config.bindAddress.c_str(), &local.sin_addr) != 1) {
    return error = "bind address '" + config.bindAddress + "' is not an IPv4 address", nullptr;
  }
  for (unsigned q = 0; q < config.queues; ++q) {
    auto queue = std::make_unique<Queue>();
    queue->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (queue->fd < 0) return error = std::string("socket: ") + strerror(errno), nullptr;
    const int one = 1;
    setsockopt(queue->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(queue->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    setsockopt(queue->fd, SOL_SOCKET, SO_RCVBUF, &config.receiveBufferBytes, sizeof config.receiveBufferBytes);
    setsockopt(queue->fd, SOL_SOCKET, SO_SNDBUF, &config.receiveBufferBytes, sizeof config.receiveBufferBytes);
    if (bind(queue->fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      error = "bind " + config.bindAddress + ":" + std::to_string(ntohs(local.sin_port)) + ": " + strerror(errno);
      close(queue->fd);
      return nullptr;
    }
    if (q == 0) {
      // With port 0 the kernel chose one; the other queues share it.
      socklen_t len = sizeof local;
      getsockname(queue->fd, reinterpret_cast<sockaddr*>(&local), &len);
      u->boundPort_ = ntohs(local.sin_port);
    }
    const unsigned b = config.batch;
    queue->arena.resize(size_t{b} * kSlotBytes);
    queue->rxMsgs.resize(b);
    queue->rxIov.resize(b);
    queue->rxAddr.resize(b);
    queue->rxControl.resize(b);
    queue->rx.resize(b);
    queue->txMsgs.resize(b);
    queue->txIov.resize(size_t{b} * 2);
    queue->txHeader.resize(b);
    u->queues_.push_back(std::move(queue));
  }
  return u;
}

VxlanUplink::~VxlanUplink() {
  for (auto& q : queues_) {
    if (q->fd >= 0) close(q->fd);
  }
}

int VxlanUplink::RouterIndex(uint32_t addressBe) const {
  for (size_t i = 0; i < routers_.size(); ++i) {
    if (routers_[i].sin_addr.s_addr == addressBe) return static_cast<int>(i);
  }
  return -1;
}

bool VxlanUplink::Serves(uint32_t vni) const { return vnis_.empty() || std::binary_search(vnis_.begin(), vnis_.end(), vni); }

bool DecapsulateVxlan(const uint8_t* datagram, size_t length, uint32_t& vni, UplinkDrop& why) {
  if (length < VxlanUplink::kVxlanHeader) {
    why = UplinkDrop::kShortVxlan;
    return false;
  }
  // RFC 7348 section 5: the I flag must be set; reserved bits are ignored.
  if ((datagram[0] & 0x08) == 0) {
    why = UplinkDrop::kVxlanFlagNotSet;
    return false;
  }
  vni = (uint32_t{datagram[4]} << 16) | (uint32_t{datagram[5]} << 8) | datagram[6];
  if (length < VxlanUplink::kVxlanHeader + 14) {
    why = UplinkDrop::kTruncatedInner;
    return false;
  }
  return true;
}

size_t VxlanUplink::Receive(unsigned queue, const RxPacket** packets) {
  Queue& q = *queues_[queue];
  for (unsigned i = 0; i < batch_; ++i) {
    q.rxIov[i] = {q.arena.data() + size_t{i} * kSlotBytes, kSlotBytes};
    msghdr& h = q.rxMsgs[i].msg_hdr;
    h.msg_name = &q.rxAddr[i];
    h.msg_namelen = sizeof(sockaddr_in);
    h.msg_iov = &q.rxIov[i];
    h.msg_iovlen = 1;
    h.msg_control = q.rxControl[i].data();
    h.msg_controllen = q.rxControl[i].size();
    h.msg_flags = 0;
  }
  const int got = recvmmsg(q.fd, q.rxMsgs.data(), batch_, MSG_DONTWAIT, nullptr);
  if (got <= 0) return 0;
  size_t out = 0;
  uint64_t bytes = 0;
  std::array<uint64_t, kUplinkDropCount> drops{};
  for (int i = 0; i < got; ++i) {
    const msghdr& h = q.rxMsgs[i].msg_hdr;
    const uint32_t len = q.rxMsgs[i].msg_len;
    bytes += len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t overflow;
        std::memcpy(&overflow, CMSG_DATA(c), sizeof overflow);
        if (overflow != q.lastOverflow) {
          q.counters.Add(q.counters.socketDrops, static_cast<uint32_t>(overflow - q.lastOverflow));
          q.lastOverflow = overflow;
        }
      }
    }
    const uint8_t* vx = q.arena.data() + size_t{static_cast<unsigned>(i)} * kSlotBytes;
    UplinkDrop why;
    const int router = h.msg_namelen == sizeof(sockaddr_in) ? RouterIndex(q.rxAddr[i].sin_addr.s_addr) : -1;
    uint32_t vni = 0;
    if (router < 0) {
      why = UplinkDrop::kUnknownVtep;
    } else if ((h.msg_flags & MSG_TRUNC) != 0) {
      why = UplinkDrop::kOversize;
    } else if (!DecapsulateVxlan(vx, len, vni, why)) {
      // counted below
    } else if (!Serves(vni)) {
      why = UplinkDrop::kUnknownVni;
    } else {
      q.rx[out] = RxPacket{const_cast<uint8_t*>(vx) + kVxlanHeader, len - kVxlanHeader, vni, static_cast<uint16_t>(router)};
      ++out;
      continue;
    }
    ++drops[static_cast<size_t>(why)];
  }
  q.counters.Add(q.counters.rxPackets, static_cast<uint64_t>(got));
  q.counters.Add(q.counters.rxBytes, bytes);
  for (size_t d = 0; d < kUplinkDropCount; ++d) {
    if (drops[d] != 0) q.counters.Add(q.counters.drops[d], drops[d]);
  }
  *packets = q.rx.data();
  return out;
}

size_t VxlanUplink::Send(unsigned queue, const TxPacket* packets, size_t n) {
  Queue& q = *queues_[queue];
  size_t sent = 0;
  while (sent < n) {
    const size_t chunk = std::min<size_t>(n - sent, batch_);
    for (size_t i = 0; i < chunk; ++i) {
      const TxPacket& p = packets[sent + i];
      uint8_t* hdr = q.txHeader[i].data();
      std::memset(hdr, 0, kVxlanHeader);
      hdr[0] = 0x08;
      hdr[4] = static_cast<uint8_t>(p.vni >> 16);
      hdr[5] = static_cast<uint8_t>(p.vni >> 8);
      hdr[6] = static_cast<uint8_t>(p.vni);
      q.txIov[2 * i] = {hdr, kVxlanHeader};
      q.txIov[2 * i + 1] = {const_cast<uint8_t*>(p.frame), p.length};
      msghdr& h = q.txMsgs[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &routers_[p.vtep < routers_.size() ? p.vtep : 0];
      h.msg_namelen = sizeof(sockaddr_in);
      h.msg_iov = &q.txIov[2 * i];
      h.msg_iovlen = 2;
    }
    size_t done = 0, failed = 0;
    while (done < chunk) {
      const int r = sendmmsg(q.fd, q.txMsgs.data() + done, static_cast<unsigned>(chunk - done), MSG_DONTWAIT);
      if (r > 0) {
        done += static_cast<size_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        // The socket's send buffer is full: wait for room rather than drop a
        // packet the router is owed.
        pollfd pfd{q.fd, POLLOUT, 0};
        if (poll(&pfd, 1, 5) > 0) continue;
      }
      // Anything else (or no room after waiting): this datagram is lost; skip it.
      ++failed;
      ++done;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < chunk; ++i) bytes += packets[sent + i].length + kVxlanHeader;
    if (failed != 0) q.counters.Add(q.counters.txErrors, failed);
    q.counters.Add(q.counters.txPackets, chunk - failed);
    q.counters.Add(q.counters.txBytes, bytes);
    sent += chunk;
  }
  return sent;
}

UplinkTotals VxlanUplink::Totals() const {
  UplinkTotals t;
  for (const auto& q : queues_) {
    const UplinkQueueCounters& c = q->counters;
    t.rxPackets += c.rxPackets.load(std::memory_order_relaxed);
    t.rxBytes += c.rxBytes.load(std::memory_order_relaxed);
    t.txPackets += c.txPackets.load(std::memory_order_relaxed);
    t.txBytes += c.txBytes.load(std::memory_order_relaxed);
    t.txErrors += c.txErrors.load(std::memory_order_relaxed);
    t.socketDrops += c.socketDrops.load(std::memory_order_relaxed);
    for (size_t d = 0; d < kUplinkDropCount; ++d) t.drops[d] += c.drops[d].load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace pcloud::io
