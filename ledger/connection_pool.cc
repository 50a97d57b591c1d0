#include "ledger/connection_pool.h"

namespace tally::ledger {

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    available_.wait(lock, [this] { return !idle_.empty() || open_ < max_size_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;
  }
  auto conn = Connect(database_url_, session_);
  if (!conn.ok()) {
    std::lock_guard lock(mu_);
    --open_;
    available_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> conn) {
  std::lock_guard lock(mu_);
  // libpqxx 6.4 still calls a connection "open" after the server dropped it; libpq has closed
  // its socket by then. Keeping such a connection would fail every later lease (a database
  // restart would never heal), so only live sockets go back to the pool.
  if (conn->is_open() && conn->sock() >= 0) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  available_.notify_one();
}

}  // namespace tally::ledger
