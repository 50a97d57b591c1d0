#pragma once
// PaymentState <-> the columns of the payments table. The row is the state: loading a row and
// folding more events into it gives exactly what folding everything from the start gives.

#include "absl/status/statusor.h"
#include "projections/payment_fold.h"
#include "projections/table.h"

namespace tally::projections {

const TableSpec& PaymentsTable();
const TableSpec& AnomaliesTable();

Row EncodePayment(const PaymentState& state);
// DataLoss naming the column when `row` is not what EncodePayment writes (a wrong number of
// columns, an integer, flag, status or timestamp that does not parse): stored state that
// cannot be read back must stop the fold, not turn into zeros.
absl::StatusOr<PaymentState> DecodePayment(const Row& row);

// The (partition_id, stream_id) keys of the payment streams in `batch`, each once: what a live
// fold of the batch loads.
std::vector<Row> PaymentStreamKeys(const std::vector<ledger::RecordedEvent>& batch);

Row EncodeAnomaly(int partition, const std::string& stream_id, const Anomaly& anomaly);

// Parses PostgreSQL's text form of a timestamptz in a UTC session ("2026-11-18 11:06:40+00",
// with an optional fraction) into microseconds; 0 for NULL.
int64_t ParseTimestamp(const std::optional<std::string>& text);

}  // namespace tally::projections
