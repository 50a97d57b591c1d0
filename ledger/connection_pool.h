#pragma once
// A bounded pool of PostgreSQL connections for short read queries. Thread-safe.
//
// Acquire hands out an idle connection or opens a new one while fewer than `max_size` exist,
// otherwise waits. A Lease returns its connection on destruction unless the connection broke.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/database.h"

namespace tally::ledger {

class ConnectionPool {
 public:
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  ConnectionPool(std::string database_url, Session session, size_t max_size)
      : database_url_(std::move(database_url)), session_(session), max_size_(max_size) {}

  absl::StatusOr<Lease> Acquire();

 private:
  void Release(std::unique_ptr<pqxx::connection> conn);

  const std::string database_url_;
  const Session session_;
  const size_t max_size_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;
};

}  // namespace tally::ledger
