// A VXLAN load generator for benchmarks: plays the front-end router towards a
// cloudlet (ours or the kernel's), sending one inner frame at a paced rate in
// sendmmsg batches and counting what comes back, with the send time stamped
// in each frame's payload for the per-hop delay. Not used by the controller.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pcloud::dataplane {

struct LoadConfig {
  std::string netns;        // namespace path for the socket; empty: this process's
  std::string bind;         // local address (the "router" VTEP)
  uint16_t port = 0;        // local port
  std::string target;       // the cloudlet's VTEP address
  uint16_t targetPort = 4789;
  uint32_t vni = 0;
  std::vector<uint8_t> frame;  // inner Ethernet frame; bytes 42..57 are overwritten (marker, send time)
  double pps = 1000;
  double seconds = 1;
  double drainSeconds = 0.2;   // wait for stragglers after the last send
};

struct LoadResult {
  uint64_t sent = 0;
  uint64_t received = 0;
  double p50Us = 0, p99Us = 0;
  double seconds = 0;
};

bool RunLoad(const LoadConfig& config, LoadResult& result, std::string& error);

}  // namespace pcloud::dataplane
