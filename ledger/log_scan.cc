#include "ledger/log_scan.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tally::ledger {
namespace {

// COPY binary format: an 11-byte signature, 4 bytes of flags, 4 bytes of extension length.
constexpr size_t kHeaderBytes = 19;

class Cursor {
 public:
  Cursor(const char* data, size_t size) : p_(data), end_(data + size) {}
  bool Has(size_t n) const { return static_cast<size_t>(end_ - p_) >= n; }
  int16_t I16() {
    uint16_t v = (static_cast<uint8_t>(p_[0]) << 8) | static_cast<uint8_t>(p_[1]);
    p_ += 2;
    return static_cast<int16_t>(v);
  }
  int32_t I32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 4;
    return static_cast<int32_t>(v);
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 8;
    return static_cast<int64_t>(v);
  }
  std::string Bytes(size_t n) {
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  void Skip(size_t n) { p_ += n; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace

absl::StatusOr<RawConnection> ConnectRaw(const std::string& url, Session session) {
  RawConnection conn(PQconnectdb(url.c_str()));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("connecting to PostgreSQL: ",
                                               conn ? PQerrorMessage(conn.get()) : "no memory"));
  }
  if (session != Session::kOwner) {
    absl::Status status = ExecRaw(conn.get(), SessionSetupSql(session));
    if (!status.ok()) return status;
  }
  return conn;
}

absl::Status ExecRaw(PGconn* conn, const std::string& sql) {
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::string error = PQresultErrorMessage(result);
  PQclear(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  if (PQstatus(conn) != CONNECTION_OK) return absl::UnavailableError(error);
  return absl::InternalError(error);
}

absl::Status ScanLog(PGconn* conn, const std::vector<ScanRange>& ranges,
                     const std::function<absl::Status(RecordedEvent&&)>& sink) {
  std::vector<std::string> conditions;
  for (const auto& r : ranges) {
    if (r.upto <= r.after) continue;
    conditions.push_back(absl::StrCat("(partition_id = ", r.partition, " AND position > ", r.after,
                                      " AND position <= ", r.upto, ")"));
  }
  if (conditions.empty()) return absl::OkStatus();
  const std::string sql = absl::StrCat(
      "COPY (SELECT partition_id, position, stream_id, stream_version::bigint, event_type, "
      "payload, (extract(epoch FROM recorded_at) * 1000000)::bigint FROM events WHERE ",
      absl::StrJoin(conditions, " OR "),
      " ORDER BY partition_id, position) TO STDOUT (FORMAT binary)");
  PGresult* start = PQexec(conn, sql.c_str());
  if (PQresultStatus(start) != PGRES_COPY_OUT) {
    std::string error = PQresultErrorMessage(start);
    PQclear(start);
    return absl::InternalError(absl::StrCat("reading the log: ", error));
  }
  PQclear(start);
  bool header = true;
  absl::Status failure;
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(conn, &buffer, 0);
    if (n == -1) break;  // done
    if (n == -2) return absl::UnavailableError(PQerrorMessage(conn));
    Cursor cursor(buffer, n);
    if (header) {
      cursor.Skip(kHeaderBytes);
      header = false;
      if (!cursor.Has(2)) {
        PQfreemem(buffer);
        continue;
      }
    }
    const int16_t fields = cursor.I16();
    if (fields == -1 || !failure.ok()) {  // trailer, or draining after a sink error
      PQfreemem(buffer);
      continue;
    }
    RecordedEvent event;
    cursor.I32();
    event.partition = cursor.I32();
    cursor.I32();
    event.position = cursor.I64();
    event.stream_id = cursor.Bytes(cursor.I32());
    cursor.I32();
    event.stream_version = cursor.I64();
    event.type = cursor.Bytes(cursor.I32());
    event.payload = cursor.Bytes(cursor.I32());
    cursor.I32();
    event.recorded_at_us = cursor.I64();
    PQfreemem(buffer);
    failure = sink(std::move(event));
  }
  PGresult* end = PQgetResult(conn);
  const bool ok = PQresultStatus(end) == PGRES_COMMAND_OK;
  std::string error = PQresultErrorMessage(end);
  PQclear(end);
  while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
  if (!failure.ok()) return failure;
  if (!ok) return absl::InternalError(absl::StrCat("reading the log: ", error));
  return absl::OkStatus();
}

}  // namespace tally::ledger
