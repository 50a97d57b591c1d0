#include "reactors/batch_appends.h"

#include <utility>

namespace tally::reactors {

BatchAppends::BatchAppends(ledger::EventStore& store) : store_(store) {}

BatchAppends::Partition& BatchAppends::For(int partition) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Partition>& slot = partitions_[partition];
  if (slot == nullptr) slot = std::make_unique<Partition>();
  return *slot;
}

void BatchAppends::Start(int partition, ledger::AppendRequest request) {
  Partition& p = For(partition);
  {
    std::lock_guard<std::mutex> lock(p.mu);
    ++p.outstanding;
    p.streams.insert(request.stream_id);
  }
  Written written{0, request.tenant_key, request.stream_id,
                  request.events.empty() ? std::string() : request.events[0].payload};
  // Not under p.mu: a request that fails validation is answered on this thread.
  store_.AppendAsync(
      std::move(request),
      [&p, written = std::move(written)](absl::StatusOr<ledger::AppendResult> appended) mutable {
        std::lock_guard<std::mutex> lock(p.mu);
        if (!appended.ok() && p.error.ok()) p.error = appended.status();
        if (appended.ok() && !appended->duplicate) {
          written.partition = appended->partition;
          p.written.push_back(std::move(written));
        }
        if (--p.outstanding == 0) p.done.notify_all();
      });
}

bool BatchAppends::Pending(int partition, const std::string& stream_id) {
  Partition& p = For(partition);
  std::lock_guard<std::mutex> lock(p.mu);
  return p.streams.contains(stream_id);
}

absl::Status BatchAppends::Settle(int partition, std::vector<Written>* written) {
  Partition& p = For(partition);
  std::unique_lock<std::mutex> lock(p.mu);
  p.done.wait(lock, [&p] { return p.outstanding == 0; });
  p.streams.clear();
  if (written != nullptr) {
    *written = std::move(p.written);
  }
  p.written.clear();
  return std::exchange(p.error, absl::OkStatus());
}

absl::Status BatchAppends::SettleAndOffer(int partition, const OutboxOffer& offer) {
  std::vector<Written> written;
  absl::Status settled = Settle(partition, &written);
  if (offer) {
    for (Written& w : written) {
      OutboxItem item;
      item.stream_id = std::move(w.stream_id);
      item.tenant_id = std::move(w.tenant_id);
      item.partition = w.partition;
      item.attempt = 1;
      item.request = std::move(w.payload);
      offer(std::move(item));
    }
  }
  return settled;
}

}  // namespace tally::reactors
