#include "reactors/customer_purchases.h"

#include <set>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

constexpr char kProjection[] = "payments";
constexpr char kReadCheckpoint[] =
    "SELECT c.position FROM projection_checkpoints c JOIN projection_state s USING (name) "
    "WHERE c.name = $1 AND c.partition_id = $2";
constexpr char kReadCandidates[] =
    "SELECT stream_id FROM payments WHERE partition_id = $1 AND tenant_id = $2 AND bot_id = $3 "
    "AND customer_id = $4 AND product_id = $5";
constexpr size_t kReadBatch = 1000;

struct Projected {
  int64_t checkpoint = 0;
  std::set<std::string> streams;
};

// The projection's checkpoint and the streams its view lists for `owner`, in one snapshot.
absl::StatusOr<Projected> ReadProjected(ledger::ConnectionPool& readers,
                                        const ProductOwner& owner) {
  auto conn = readers.Acquire();
  if (!conn.ok()) return conn.status();
  try {
    Projected out;
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    pqxx::result row = txn.exec_params(kReadCheckpoint, kProjection, owner.partition);
    if (row.empty()) return out;  // not initialized: nothing folded yet
    out.checkpoint = row[0][0].as<int64_t>();
    for (const auto& r : txn.exec_params(kReadCandidates, owner.partition, owner.tenant_id,
                                         owner.bot_id, owner.customer_id, owner.product_id)) {
      out.streams.insert(r[0].as<std::string>());
    }
    txn.commit();
    return out;
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading the payments projection");
  }
}

}  // namespace

absl::StatusOr<std::string> PaymentOwningProduct(ledger::ConnectionPool& readers,
                                                 ledger::EventStore& store,
                                                 const ProductOwner& owner,
                                                 int64_t max_unfolded_events) {
  auto projected = ReadProjected(readers, owner);
  if (!projected.ok()) return projected.status();
  int64_t after = projected->checkpoint;
  std::set<std::string>& streams = projected->streams;

  // What the projection has not folded yet: payments of this buyer created since.
  int64_t unfolded = 0;
  for (;;) {
    auto batch = store.ReadPartition(owner.partition, after, kReadBatch);
    if (!batch.ok()) return batch.status();
    for (const auto& e : *batch) {
      if (e.type != "tally.payments.v1.PaymentCreated" ||
          !projections::IsPaymentStream(e.stream_id)) {
        continue;
      }
      payments::v1::PaymentCreated m;
      if (!m.ParseFromString(e.payload)) {
        return absl::DataLossError(absl::StrCat("PaymentCreated at ", e.position));
      }
      if (m.tenant_id() == owner.tenant_id && m.bot_id() == owner.bot_id &&
          m.customer_id() == owner.customer_id && m.product_id() == owner.product_id) {
        streams.insert(e.stream_id);
      }
    }
    unfolded += static_cast<int64_t>(batch->size());
    if (unfolded > max_unfolded_events) {
      return absl::UnavailableError(absl::StrCat("the payments projection is more than ",
                                                 max_unfolded_events,
                                                 " events behind on partition ", owner.partition));
    }
    if (batch->size() < kReadBatch) break;
    after = batch->back().position;
  }

  for (const std::string& stream : streams) {
    auto events = store.ReadStreamInPartition(owner.partition, stream);
    if (!events.ok()) return events.status();
    projections::PaymentState state;
    for (const auto& e : *events) {
      auto applied = projections::ApplyPaymentEvent(state, e);
      if (!applied.ok()) return applied.status();
    }
    // The fold keeps the first PaymentCreated's buyer and product; a view row is checked again.
    if (state.tenant_id == owner.tenant_id && state.bot_id == owner.bot_id &&
        state.customer_id == owner.customer_id && state.product_id == owner.product_id &&
        state.status == projections::PaymentStatus::kPaid && state.paid_confirmed) {
      return stream;
    }
  }
  return std::string();
}

}  // namespace tally::reactors
