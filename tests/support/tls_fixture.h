#pragma once
// A throw-away TLS identity and a tiny blocking HTTPS server, for tests of the outbound client.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace tally::testing {

// A self-signed certificate (P-256, SHA-256, valid for an hour) for `dns_name`, written as PEM
// files into a fresh temporary directory that is removed with the object.
class SelfSignedCertificate {
 public:
  explicit SelfSignedCertificate(const std::string& dns_name);
  ~SelfSignedCertificate();
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }

 private:
  std::string dir_;
  std::string cert_file_;
  std::string key_file_;
};

// Serves HTTPS on 127.0.0.1 with `certificate`, answering every request 200 with body "tls ok"
// (keep-alive), one connection at a time, until destroyed.
class TlsTestServer {
 public:
  explicit TlsTestServer(const SelfSignedCertificate& certificate);
  ~TlsTestServer();
  uint16_t port() const { return port_; }
  int handshakes_completed() const { return handshakes_.load(); }

 private:
  struct State;
  std::unique_ptr<State> state_;
  uint16_t port_ = 0;
  std::atomic<int> handshakes_{0};
  std::thread thread_;
};

}  // namespace tally::testing
