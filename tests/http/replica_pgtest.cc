// The hot-standby read path, end to end: a private primary and a streaming replica made with
// `pg_basebackup -R` (scripts/lib/common.sh), `tally serve --read-database <replica>`, payments
// appended on the primary. The read API answers from the replica (Tally-Read-Source: replica):
// while the replica's replay is paused, a payment the primary's projection already holds stays
// invisible through Tally and the lag header grows; once replay resumes it appears. Writes (the
// serve process's own projection folding) keep going to the primary, which a standby would
// refuse.

#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"
#include "tests/support/http_client.h"
#include "tests/support/pg.h"
#include "tests/support/serve_process.h"

namespace tally::http {
namespace {

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// A primary and its standby in temporary directories; both stopped by PID and removed at the end.
struct ClusterPair {
  std::string primary_dir, replica_dir, primary_url, replica_url;

  ClusterPair() {
    for (std::string* dir : {&primary_dir, &replica_dir}) {
      char name[] = "/tmp/tally-replica-test.XXXXXX";
      REQUIRE(mkdtemp(name) != nullptr);
      *dir = name;
      REQUIRE(chmod(name, 0755) == 0);
    }
    auto started = testing::RunCommand(absl::StrCat(
        "bash -c 'source ", TALLY_SOURCE_DIR, "/scripts/lib/common.sh && tally_pg_start ",
        primary_dir, " && tally_pg_start_replica ", primary_dir, " ", replica_dir,
        " && echo \"PRIMARY=$PG_URL\" && echo \"REPLICA=$REPLICA_URL\"'"));
    REQUIRE_MESSAGE(started.exit_code == 0, started.output);
    primary_url = Line(started.output, "PRIMARY=");
    replica_url = Line(started.output, "REPLICA=");
  }
  ~ClusterPair() {
    for (const std::string& dir : {replica_dir, primary_dir}) {
      std::ifstream pidfile(dir + "/data/postmaster.pid");
      pid_t pid = 0;
      if (pidfile >> pid && pid > 0) {
        kill(pid, SIGINT);
        for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
      (void)testing::RunCommand("rm -rf '" + dir + "'");
    }
  }
  static std::string Line(const std::string& output, const std::string& prefix) {
    const size_t at = output.find(prefix);
    REQUIRE(at != std::string::npos);
    return output.substr(at + prefix.size(), output.find('\n', at) - at - prefix.size());
  }
};

void AppendPaidPayment(ledger::EventStore& store, const std::string& tenant,
                       const std::string& txid) {
  payments::v1::PaymentCreated created;
  created.set_tenant_id(tenant);
  created.set_gateway("pushinpay");
  created.set_gateway_transaction_id(txid);
  created.set_payment_id("pay_" + txid);
  created.mutable_amount()->set_amount_minor(1990);
  created.mutable_amount()->set_currency("BRL");
  REQUIRE(store
              .Append({tenant,
                       "payment-pushinpay-" + txid,
                       ledger::ExpectedVersion::Any(),
                       {{"tally.payments.v1.PaymentCreated", created.SerializeAsString(), ""}},
                       ""})
              .ok());
}

int64_t ProjectedOnPrimary(const std::string& url, const std::string& payment_id) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  return txn.exec_params1("SELECT count(*) FROM payments WHERE payment_id = $1", payment_id)[0]
      .as<int64_t>();
}

TEST_CASE(
    "hot standby: reads come from the replica with its lag in a header, writes go to the primary") {
  ClusterPair clusters;
  auto migrated = testing::RunCommand(
      testing::TallyBinary() + " migrate --partitions 2 --database '" + clusters.primary_url + "'");
  REQUIRE_MESSAGE(migrated.exit_code == 0, migrated.output);
  auto store = testing::OpenStore(clusters.primary_url);
  auto box = tenants::SecretBox::FromHex(kMasterKey);
  REQUIRE(box.ok());
  auto tenant = tenants::CreateTenant(*store, *box, "Loja da Ana", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  AppendPaidPayment(*store, tenant->tenant_id, "first");

  const int port = testing::FreePort();
  auto serve = testing::ServeProcess::Start(
      {clusters.primary_url,
       kMasterKey,
       {"--roles", "http,projections", "--listen", absl::StrCat("127.0.0.1:", port),
        "--read-database", clusters.replica_url, "--api-rate-limit", "0"}});
  auto get = [&](const std::string& target) {
    return testing::HttpFetch(port, "GET", target,
                              {{"Authorization", "Bearer " + tenant->api_key}});
  };
  // Projected on the primary, replayed by the replica, read through Tally.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  testing::HttpReply reply;
  for (;;) {
    reply = get("/v1/payments/pay_first");
    if (reply.status == 200) break;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "never visible on the replica: " << reply.status << " " << reply.body << "\n"
                                                     << serve->OutputTail());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(reply.Header("Tally-Read-Source") == "replica");
  int64_t lag = -1;
  CHECK(absl::SimpleAtoi(reply.Header("Tally-Replica-Lag-Ms"), &lag));
  CHECK(lag >= 0);

  // Freeze the replica's replay: the primary moves on, Tally's answers do not.
  {
    pqxx::connection replica(clusters.replica_url);
    pqxx::nontransaction(replica).exec("SELECT pg_wal_replay_pause()");
  }
  AppendPaidPayment(*store, tenant->tenant_id, "second");
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ProjectedOnPrimary(clusters.primary_url, "pay_second") == 0) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the primary never projected it");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the lag be measurable
  auto frozen = get("/v1/payments/pay_second");
  CHECK(frozen.status == 404);
  CHECK(frozen.Header("Tally-Read-Source") == "replica");
  CHECK(absl::SimpleAtoi(frozen.Header("Tally-Replica-Lag-Ms"), &lag));
  CHECK(lag >= 300);
  const int64_t frozen_lag = lag;
  auto listed = get("/v1/payments");
  CHECK(absl::StrContains(listed.body, "pay_first"));
  CHECK(!absl::StrContains(listed.body, "pay_second"));

  {
    pqxx::connection replica(clusters.replica_url);
    pqxx::nontransaction(replica).exec("SELECT pg_wal_replay_resume()");
  }
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    reply = get("/v1/payments/pay_second");
    if (reply.status == 200) break;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "replay resumed, still absent");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(absl::SimpleAtoi(reply.Header("Tally-Replica-Lag-Ms"), &lag));
  CHECK(lag < frozen_lag);
  CHECK(serve->Terminate() == 0);
}

}  // namespace
}  // namespace tally::http
