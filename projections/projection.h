#pragma once
// A projection: a read model folded from the log into versioned tables behind stable views.
//
// A Projection declares its name, version and tables and makes folds. A fold keeps in memory
// the state of the keys it has seen and applies events to it; the same fold code serves
//  - live folding (ProjectionRunner): Load the rows a batch touches, Apply the batch, Store
//    what changed — all inside the transaction that also moves the checkpoint; and
//  - rebuilds and verification: Apply every event from position 0, then AllRows for COPY.
// A fold is used by one thread at a time; Projection objects are immutable and thread-safe.
//
// Changing what a projection computes or how its tables look means a new version(): it is
// rebuilt into new tables while the old version keeps serving (see projections/rebuild.h).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ledger/event.h"
#include "projections/table.h"

namespace pqxx {
class transaction_base;
}

namespace tally::projections {

// Load and Store report a failed statement as a Status, never by throwing (the code from
// ledger::StatusFromException; `txn` is then aborted and must be rolled back).
class ProjectionFold {
 public:
  virtual ~ProjectionFold() = default;
  // Live: reads the state rows `batch` will need from the tables named with `suffix`.
  virtual absl::Status Load(pqxx::transaction_base& txn, const std::string& suffix,
                            const std::vector<ledger::RecordedEvent>& batch) = 0;
  // DataLoss (or another error) for an event the fold cannot apply: a poison event.
  virtual absl::Status Apply(const ledger::RecordedEvent& event) = 0;
  // Live: writes every row changed since Load.
  virtual absl::Status Store(pqxx::transaction_base& txn, const std::string& suffix) = 0;
  // Rebuild: every row of every table, in the order of Projection::tables().
  virtual std::vector<std::vector<Row>> AllRows() = 0;
};

class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string name() const = 0;
  virtual int version() const = 0;
  virtual std::vector<TableSpec> tables() const = 0;
  virtual std::unique_ptr<ProjectionFold> NewFold() const = 0;
};

// payments (+ anomalies), revenue_daily, purchase_tracking, leads, subscriptions.
std::vector<std::unique_ptr<Projection>> AllProjections();

std::unique_ptr<Projection> NewPaymentsProjection();
std::unique_ptr<Projection> NewRevenueProjection();
std::unique_ptr<Projection> NewPurchaseTrackingProjection();
std::unique_ptr<Projection> NewLeadsProjection();
std::unique_ptr<Projection> NewSubscriptionsProjection();

}  // namespace tally::projections
