#pragma once
// The dashboard's live feed: GET /v1/live as a WebSocket (http/websocket.h) that pushes a tenant's
// payment changes as the payments projection commits them.
//
// Protocol. Browsers cannot set Authorization on a WebSocket, and a key in the URL would reach
// access logs, so the client's first message signs in: {"key":"tly_..."} with an owner key. The
// feed answers {"type":"ready","tenant_id":"..."}, or {"type":"error","error":{"code","message"}}
// (unauthorized, forbidden, bad_sign_in, sign_in_timeout after `sign_in_timeout` without one;
// database_unavailable) and closes with 1008 (policy violation; 1011 when the database is down).
// From then on each payment of the key's tenant that changes is sent as
//   {"type":"payment","payment":<the payment>}
// where <the payment> is its row in the payments view after the change, rendered exactly as the
// read API renders it (http/payment_view.h: payment_id, gateway, bot_id, product_id,
// customer_id, amount_minor, currency, status, paid_confirmed, created_at, paid_at,
// delivery_state, purchase_state, purchase_sent, ...). Later client messages are ignored. Only
// the rows of the signed-in key's tenant ever reach a connection.
//
// How. Every batch the payments projection commits NOTIFYs tally_projection_committed
// (projections/runner.h). One thread LISTENs, and on each notification for payments (or every
// `poll_interval`, in case one was missed) reads the rows of the payments view whose
// last_position passed what it has seen in that partition, and hands each to its tenant's
// connections. Rows are read after their batch committed, so a row is never seen half-folded; a
// payment changed twice between two reads is sent once, in its latest state. Connections opened
// after a change do not get it (the dashboard loads the current list through GET /v1/payments).
// Sending never blocks: a connection that cannot keep up is dropped by the server.
//
// Thread-safe. The WebSocketHandler calls block on the database (sign-in): the server makes them
// on its workers. Start/Stop run the listening thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "http/api_auth.h"
#include "http/websocket.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "ledger/wakeup.h"

namespace tally::http {

struct LiveFeedOptions {
  std::string database_url;
  int partitions = 1;
  std::chrono::milliseconds poll_interval{1000};  // the fallback for a missed notification
  std::chrono::milliseconds sign_in_timeout{10000};
};

class LiveFeed final : public WebSocketHandler {
 public:
  LiveFeed(ledger::EventStore& store, const ledger::Clock& clock, LiveFeedOptions options);
  ~LiveFeed() override;

  // Starts the listening thread and returns once it has tried the database: listening, from the
  // projection's current state (the view must exist), or failed and going to retry every second.
  void Start();
  void Stop();

  void OnOpen(const std::shared_ptr<WebSocketConnection>& connection) override;
  void OnMessage(const std::shared_ptr<WebSocketConnection>& connection,
                 const std::string& text) override;
  void OnClose(const std::shared_ptr<WebSocketConnection>& connection) override;

  // Signed-in connections now.
  size_t subscribers() const;

 private:
  struct Pending {
    std::shared_ptr<WebSocketConnection> connection;
    std::chrono::steady_clock::time_point opened_at;
  };
  struct Subscriber {
    std::shared_ptr<WebSocketConnection> connection;
    std::string tenant_id;
  };

  void Run();
  // One database session: LISTEN, then read and publish changes until Stop or an error.
  absl::Status Follow();
  struct Change {
    std::string tenant_id;
    std::string message;  // {"type":"payment","payment":{...}}
  };
  void Publish(const std::vector<Change>& changes);
  void ExpireSignIns();
  void Refuse(const std::shared_ptr<WebSocketConnection>& connection, int close_code,
              const std::string& code, const std::string& message);

  const LiveFeedOptions options_;
  ApiKeyAuthenticator auth_;
  mutable std::mutex mu_;
  absl::flat_hash_map<const WebSocketConnection*, Pending> pending_;
  absl::flat_hash_map<const WebSocketConnection*, Subscriber> subscribers_;
  // tenant id -> its signed-in connections
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<WebSocketConnection>>> by_tenant_;
  ledger::Wakeup wakeup_;
  std::atomic<bool> stopping_{false};
  // Per partition, the last_position up to which rows were published; kept across sessions, so
  // that changes made while the connection was lost are sent after it is back.
  std::vector<int64_t> seen_;
  std::condition_variable tried_cv_;
  bool tried_ = false;  // under mu_
  std::thread thread_;
};

}  // namespace tally::http
