// TrafficObserver: told of the bytes a Connection moves, so a process can
// count its traffic (e.g. for a metrics endpoint) without common/net
// knowing how it is exported.
//
// Called on the connection's executor, once per completed (or partly
// completed) read or write; an implementation shared by connections on
// several threads must be thread-safe.
#pragma once

#include <cstdint>

namespace fedjets::common {

class TrafficObserver {
 public:
  virtual ~TrafficObserver() = default;
  // Frame bytes (header and body) written to the peer.
  virtual void OnBytesSent(uint64_t bytes) = 0;
  // Frame bytes read from the peer, including those of a frame that
  // turned out truncated or invalid.
  virtual void OnBytesReceived(uint64_t bytes) = 0;
};

}  // namespace fedjets::common
