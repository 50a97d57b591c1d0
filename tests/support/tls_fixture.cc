#include "tests/support/tls_fixture.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <stdexcept>

namespace tally::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what);
}

void AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

SelfSignedCertificate::SelfSignedCertificate(const std::string& dns_name) {
  char dir_template[] = "/tmp/tally-tls-XXXXXX";
  Check(mkdtemp(dir_template) != nullptr, "mkdtemp");
  dir_ = dir_template;
  cert_file_ = dir_ + "/cert.pem";
  key_file_ = dir_ + "/key.pem";

  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "key");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(dns_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  AddExtension(cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert, NID_subject_alt_name, ("DNS:" + dns_name).c_str());
  Check(X509_sign(cert, key, EVP_sha256()) > 0, "sign");

  FILE* f = fopen(cert_file_.c_str(), "w");
  Check(f && PEM_write_X509(f, cert), "write cert");
  fclose(f);
  f = fopen(key_file_.c_str(), "w");
  Check(f && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr), "write key");
  fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

SelfSignedCertificate::~SelfSignedCertificate() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

struct TlsTestServer::State {
  net::io_context ioc;
  ssl::context context{ssl::context::tls_server};
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};
};

TlsTestServer::TlsTestServer(const SelfSignedCertificate& certificate)
    : state_(std::make_unique<State>()) {
  state_->context.use_certificate_chain_file(certificate.cert_file());
  state_->context.use_private_key_file(certificate.key_file(), ssl::context::pem);
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen();
  port_ = state_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] {
    while (!state_->stopping) {
      boost::system::error_code ec;
      tcp::socket socket(state_->ioc);
      state_->acceptor.accept(socket, ec);
      if (ec || state_->stopping) break;
      ssl::stream<tcp::socket> stream(std::move(socket), state_->context);
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) continue;  // the client refused our certificate
      ++handshakes_;
      boost::beast::flat_buffer buffer;
      for (;;) {
        bhttp::request<bhttp::string_body> request;
        bhttp::read(stream, buffer, request, ec);
        if (ec) break;
        bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
        response.set(bhttp::field::content_type, "text/plain");
        response.body() = "tls ok";
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        bhttp::write(stream, response, ec);
        if (ec || !request.keep_alive()) break;
      }
    }
  });
}

TlsTestServer::~TlsTestServer() {
  state_->stopping = true;
  boost::system::error_code ec;
  // Wake the blocking accept with a connection of our own.
  tcp::socket poke(state_->ioc);
  poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  poke.close(ec);
  thread_.join();
}

}  // namespace tally::testing
