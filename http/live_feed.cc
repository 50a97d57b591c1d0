#include "http/live_feed.h"

#include <pthread.h>

#include <algorithm>
#include <pqxx/notification>
#include <pqxx/pqxx>
#include <set>

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateways/payload_fields.h"
#include "http/payment_view.h"
#include "ledger/database.h"
#include "ledger/event_json.h"

namespace tally::http {
namespace {

constexpr char kChannel[] = "tally_projection_committed";
constexpr size_t kReadBatch = 1000;
// RFC 6455 close codes.
constexpr int kPolicyViolation = 1008;
constexpr int kInternalError = 1011;

// The read API's columns (http/payment_view.h) first, then the feed's own.
const std::string& ChangedRowsSql() {
  static const std::string kSql =
      absl::StrCat("SELECT ", kPaymentViewColumns,
                   ", tenant_id AS feed_tenant, last_position AS feed_position FROM payments "
                   "WHERE partition_id = $1 AND last_position > $2 ORDER BY last_position LIMIT ",
                   kReadBatch);
  return kSql;
}
constexpr const char* kLastPosition =
    "SELECT coalesce(max(last_position), 0) FROM payments WHERE partition_id = $1";

// Collects the partitions whose payments batches were announced.
class CommitListener final : public pqxx::notification_receiver {
 public:
  explicit CommitListener(pqxx::connection_base& conn) : notification_receiver(conn, kChannel) {}
  void operator()(const std::string& payload, int) override {
    std::vector<std::string> parts = absl::StrSplit(payload, ':');
    int partition = 0;
    if (parts.size() == 3 && parts[0] == "payments" && absl::SimpleAtoi(parts[1], &partition)) {
      partitions.insert(partition);
    }
  }
  std::set<int> partitions;
};

}  // namespace

LiveFeed::LiveFeed(ledger::EventStore& store, const ledger::Clock& clock, LiveFeedOptions options)
    : options_(std::move(options)), auth_(store, clock) {}

LiveFeed::~LiveFeed() { Stop(); }

void LiveFeed::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "live-feed");
    Run();
  });
  std::unique_lock lock(mu_);
  tried_cv_.wait(lock, [this] { return tried_; });
}

void LiveFeed::Stop() {
  stopping_ = true;
  wakeup_.Notify();
  if (thread_.joinable()) thread_.join();
}

size_t LiveFeed::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void LiveFeed::OnOpen(const std::shared_ptr<WebSocketConnection>& connection) {
  std::lock_guard lock(mu_);
  pending_[connection.get()] = {connection, std::chrono::steady_clock::now()};
}

void LiveFeed::OnMessage(const std::shared_ptr<WebSocketConnection>& connection,
                         const std::string& text) {
  {
    std::lock_guard lock(mu_);
    if (!pending_.contains(connection.get())) return;  // signed in already (or refused)
    pending_.erase(connection.get());
  }
  auto fields = gateways::PayloadFields::ParseJson(text);
  const std::string key = fields.ok() ? fields->Text("key") : "";
  if (key.empty() || key.size() > 300) {
    return Refuse(connection, kPolicyViolation, "bad_sign_in",
                  R"(the first message must be {"key":"<owner API key>"})");
  }
  HttpRequest sign_in;
  sign_in.headers.emplace_back("Authorization", "Bearer " + key);
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(sign_in, {tenants::kOwnerScope});
  if (!auth.principal.has_value()) {
    // The refusal's body is already {"error":{...}}.
    const std::string body = auth.refusal.body;
    (void)connection->Send(absl::StrCat(R"({"type":"error",)", body.substr(1)));
    connection->Close(auth.refusal.status == 503 ? kInternalError : kPolicyViolation,
                      auth.refusal.status == 503 ? "try again" : "sign-in refused");
    return;
  }
  const std::string& tenant_id = auth.principal->tenant_id;
  std::lock_guard lock(mu_);
  // Closed while the key was checked: OnClose has run, and nothing may keep the connection.
  if (!connection->Send(
          absl::StrCat(R"({"type":"ready","tenant_id":)", ledger::JsonQuote(tenant_id), "}"))) {
    return;
  }
  subscribers_[connection.get()] = {connection, tenant_id};
  by_tenant_[tenant_id].push_back(connection);
}

void LiveFeed::OnClose(const std::shared_ptr<WebSocketConnection>& connection) {
  std::lock_guard lock(mu_);
  pending_.erase(connection.get());
  auto it = subscribers_.find(connection.get());
  if (it == subscribers_.end()) return;
  auto tenant = by_tenant_.find(it->second.tenant_id);
  if (tenant != by_tenant_.end()) {
    auto& list = tenant->second;
    list.erase(std::remove(list.begin(), list.end(), connection), list.end());
    if (list.empty()) by_tenant_.erase(tenant);
  }
  subscribers_.erase(it);
}

void LiveFeed::Refuse(const std::shared_ptr<WebSocketConnection>& connection, int close_code,
                      const std::string& code, const std::string& message) {
  (void)connection->Send(absl::StrCat(R"({"type":"error","error":{"code":)",
                                      ledger::JsonQuote(code),
                                      ",\"message\":", ledger::JsonQuote(message), "}}"));
  connection->Close(close_code, code);
}

void LiveFeed::ExpireSignIns() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<WebSocketConnection>> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second.opened_at < options_.sign_in_timeout) {
        ++it;
        continue;
      }
      expired.push_back(it->second.connection);
      pending_.erase(it++);
    }
  }
  for (const auto& connection : expired) {
    Refuse(connection, kPolicyViolation, "sign_in_timeout",
           R"(send {"key":"<owner API key>"} first, within the time allowed)");
  }
}

void LiveFeed::Publish(const std::vector<Change>& changes) {
  std::lock_guard lock(mu_);
  for (const auto& change : changes) {
    auto tenant = by_tenant_.find(change.tenant_id);
    if (tenant == by_tenant_.end()) continue;
    // A connection whose queue was full has been dropped; OnClose removes it.
    for (const auto& connection : tenant->second) (void)connection->Send(change.message);
  }
}

void LiveFeed::Run() {
  while (!stopping_) {
    absl::Status status = Follow();
    {
      std::lock_guard lock(mu_);
      tried_ = true;
    }
    tried_cv_.notify_all();
    if (stopping_) break;
    spdlog::warn("live feed: {}; listening again in 1 s", status.ToString());
    wakeup_.Wait(-1, std::chrono::milliseconds(1000));
  }
}

absl::Status LiveFeed::Follow() {
  auto conn_or = ledger::Connect(options_.database_url, ledger::Session::kService);
  if (!conn_or.ok()) return conn_or.status();
  pqxx::connection& conn = **conn_or;
  try {
    CommitListener listener(conn);  // LISTENs before the starting points are read
    if (seen_.empty()) {
      std::vector<int64_t> seen(options_.partitions, 0);
      for (int p = 0; p < options_.partitions; ++p) {
        pqxx::nontransaction txn(conn);
        seen[p] = txn.exec_params(kLastPosition, p)[0][0].as<int64_t>();
      }
      seen_ = std::move(seen);
    }
    {
      std::lock_guard lock(mu_);
      tried_ = true;
    }
    tried_cv_.notify_all();
    std::vector<int64_t>& seen = seen_;
    auto last_poll = std::chrono::steady_clock::now();
    while (!stopping_) {
      wakeup_.Wait(conn.sock(), options_.poll_interval);
      conn.get_notifs();
      ExpireSignIns();
      std::set<int> partitions = std::move(listener.partitions);
      listener.partitions.clear();
      const auto now = std::chrono::steady_clock::now();
      if (now - last_poll >= options_.poll_interval) {
        last_poll = now;
        for (int p = 0; p < options_.partitions; ++p) partitions.insert(p);
      }
      for (int p : partitions) {
        if (p < 0 || p >= options_.partitions) continue;
        for (;;) {
          pqxx::result rows;
          {
            pqxx::nontransaction txn(conn);
            rows = txn.exec_params(ChangedRowsSql(), p, seen[p]);
          }
          std::vector<Change> changes;
          changes.reserve(rows.size());
          for (const auto& row : rows) {
            const pqxx::row::size_type extra = row.size() - 2;  // feed_tenant, feed_position
            seen[p] = std::max(seen[p], row[extra + 1].as<int64_t>());
            if (row[extra].is_null()) continue;  // no tenant known yet: nobody to tell
            changes.push_back({row[extra].c_str(), absl::StrCat(R"({"type":"payment","payment":)",
                                                                PaymentViewJson(row), "}")});
          }
          Publish(changes);
          if (rows.size() < kReadBatch) break;
        }
      }
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "live feed");
  }
}

}  // namespace tally::http
