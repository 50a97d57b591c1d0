#include "projections/table.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ledger/database.h"

namespace tally::projections {
namespace {

std::string ArrayOf(const std::vector<Row>& rows, size_t column) {
  std::vector<std::optional<std::string>> values;
  values.reserve(rows.size());
  for (const auto& row : rows) values.push_back(row[column]);
  return ledger::NullableTextArrayLiteral(values);
}

// SELECT * FROM unnest($1::text[]::t1[], ...) over the first `count` columns.
std::string UnnestSql(const TableSpec& spec, size_t count) {
  std::vector<std::string> args;
  for (size_t i = 0; i < count; ++i) {
    args.push_back(absl::StrCat("$", i + 1, "::text[]::", spec.columns[i].type, "[]"));
  }
  return absl::StrCat("SELECT * FROM unnest(", absl::StrJoin(args, ", "), ")");
}

std::string ColumnList(const TableSpec& spec, size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(spec.columns[i].name);
  return absl::StrJoin(names, ", ");
}

pqxx::result ExecWithArrays(pqxx::transaction_base& txn, const std::string& sql,
                            const std::vector<Row>& rows, size_t count) {
  std::vector<std::string> arrays;
  for (size_t i = 0; i < count; ++i) arrays.push_back(ArrayOf(rows, i));
  return txn.exec_params(sql, pqxx::prepare::make_dynamic_params(arrays));
}

void AppendCopyValue(std::string& out, const std::optional<std::string>& value) {
  if (!value.has_value()) {
    out.append("\\N");
    return;
  }
  for (char c : *value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      default:
        out.push_back(c);
    }
  }
}

}  // namespace

std::string TableName(const TableSpec& spec, const std::string& suffix) {
  return absl::StrCat("proj_", spec.base, suffix);
}

std::string CreateTableSql(const TableSpec& spec, const std::string& name, bool primary_key) {
  std::vector<std::string> parts;
  for (const auto& column : spec.columns) parts.push_back(column.name + " " + column.type);
  if (primary_key) {
    parts.push_back(absl::StrCat("PRIMARY KEY (", ColumnList(spec, spec.key_columns), ")"));
  }
  if (!spec.constraints.empty()) parts.push_back(spec.constraints);
  return absl::StrCat("CREATE TABLE ", name, " (", absl::StrJoin(parts, ", "), ")");
}

std::string AddPrimaryKeySql(const TableSpec& spec, const std::string& name) {
  return absl::StrCat("ALTER TABLE ", name, " ADD PRIMARY KEY (",
                      ColumnList(spec, spec.key_columns), ")");
}

std::vector<std::string> CreateIndexSqls(const TableSpec& spec, const std::string& name) {
  std::vector<std::string> sqls;
  for (size_t i = 0; i < spec.indexes.size(); ++i) {
    sqls.push_back(absl::StrCat("CREATE INDEX IF NOT EXISTS ", name, "_i", i + 1, " ON ", name, " ",
                                spec.indexes[i]));
  }
  return sqls;
}

std::string KeyOf(const TableSpec& spec, const Row& row) {
  std::string key;
  for (size_t i = 0; i < spec.key_columns; ++i) {
    absl::StrAppend(&key, row[i].value_or("\\N"), "\x1f");
  }
  return key;
}

absl::StatusOr<absl::flat_hash_map<std::string, Row>> LoadRows(pqxx::transaction_base& txn,
                                                               const TableSpec& spec,
                                                               const std::string& table,
                                                               const std::vector<Row>& keys) {
  absl::flat_hash_map<std::string, Row> rows;
  if (keys.empty()) return rows;
  std::vector<std::string> columns;
  for (const auto& column : spec.columns) columns.push_back(column.name + "::text");
  const std::string sql = absl::StrCat("SELECT ", absl::StrJoin(columns, ", "), " FROM ", table,
                                       " WHERE (", ColumnList(spec, spec.key_columns), ") IN (",
                                       UnnestSql(spec, spec.key_columns), ")");
  try {
    for (const auto& r : ExecWithArrays(txn, sql, keys, spec.key_columns)) {
      Row row;
      for (const auto& field : r) {
        row.push_back(field.is_null() ? std::nullopt
                                      : std::optional<std::string>(field.as<std::string>()));
      }
      rows.emplace(KeyOf(spec, row), std::move(row));
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("loading rows of ", table));
  }
  return rows;
}

absl::Status UpsertRows(pqxx::transaction_base& txn, const TableSpec& spec,
                        const std::string& table, const std::vector<Row>& rows) {
  return AddRows(txn, spec, table, rows, {});
}

absl::Status AddRows(pqxx::transaction_base& txn, const TableSpec& spec, const std::string& table,
                     const std::vector<Row>& rows, const std::vector<std::string>& additive) {
  if (rows.empty()) return absl::OkStatus();
  std::vector<std::string> updates;
  for (size_t i = spec.key_columns; i < spec.columns.size(); ++i) {
    const std::string& name = spec.columns[i].name;
    const bool add = std::find(additive.begin(), additive.end(), name) != additive.end();
    updates.push_back(add ? absl::StrCat(name, " = ", table, ".", name, " + excluded.", name)
                          : absl::StrCat(name, " = excluded.", name));
  }
  const std::string sql = absl::StrCat(
      "INSERT INTO ", table, " (", ColumnList(spec, spec.columns.size()), ") ",
      UnnestSql(spec, spec.columns.size()), " ON CONFLICT (", ColumnList(spec, spec.key_columns),
      ") DO ", updates.empty() ? "NOTHING" : "UPDATE SET " + absl::StrJoin(updates, ", "));
  try {
    ExecWithArrays(txn, sql, rows, spec.columns.size());
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("writing rows of ", table));
  }
  return absl::OkStatus();
}

absl::Status DeleteRows(pqxx::transaction_base& txn, const TableSpec& spec,
                        const std::string& table, const std::vector<Row>& keys) {
  if (keys.empty()) return absl::OkStatus();
  const std::string sql =
      absl::StrCat("DELETE FROM ", table, " WHERE (", ColumnList(spec, spec.key_columns), ") IN (",
                   UnnestSql(spec, spec.key_columns), ")");
  try {
    ExecWithArrays(txn, sql, keys, spec.key_columns);
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("deleting rows of ", table));
  }
  return absl::OkStatus();
}

absl::Status CopyRows(PGconn* conn, const TableSpec& spec, const std::string& table,
                      const std::vector<Row>& rows) {
  const std::string sql =
      absl::StrCat("COPY ", table, " (", ColumnList(spec, spec.columns.size()), ") FROM STDIN");
  PGresult* start = PQexec(conn, sql.c_str());
  if (PQresultStatus(start) != PGRES_COPY_IN) {
    std::string error = PQresultErrorMessage(start);
    PQclear(start);
    return absl::InternalError(absl::StrCat("COPY into ", table, ": ", error));
  }
  PQclear(start);
  std::string buffer;
  auto flush = [&] {
    bool ok = PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) == 1;
    buffer.clear();
    return ok;
  };
  bool ok = true;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) buffer.push_back('\t');
      AppendCopyValue(buffer, row[i]);
    }
    buffer.push_back('\n');
    if (buffer.size() > (1 << 20)) ok = ok && flush();
  }
  if (!buffer.empty()) ok = ok && flush();
  ok = PQputCopyEnd(conn, ok ? nullptr : "client error") == 1 && ok;
  PGresult* end = PQgetResult(conn);
  const bool done = PQresultStatus(end) == PGRES_COMMAND_OK;
  std::string error = PQresultErrorMessage(end);
  PQclear(end);
  while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
  if (!ok || !done) return absl::InternalError(absl::StrCat("COPY into ", table, ": ", error));
  return absl::OkStatus();
}

std::string Bool(bool value) { return value ? "t" : "f"; }

std::optional<std::string> TimestampOrNull(int64_t micros) {
  if (micros == 0) return std::nullopt;
  // Rebuilds format millions of these; absl::FormatTime is an order of magnitude slower than
  // this civil-from-days arithmetic (H. Hinnant's algorithm, proleptic Gregorian, UTC).
  int64_t seconds = micros / 1000000;
  int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  int64_t days = seconds / 86400;
  int64_t second_of_day = seconds % 86400;
  if (second_of_day < 0) {
    second_of_day += 86400;
    --days;
  }
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2);
  char buffer[40];
  const int n = std::snprintf(
      buffer, sizeof buffer, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld.%06lld+00",
      static_cast<long long>(year), static_cast<long long>(month), static_cast<long long>(day),
      static_cast<long long>(second_of_day / 3600), static_cast<long long>(second_of_day / 60 % 60),
      static_cast<long long>(second_of_day % 60), static_cast<long long>(fraction));
  return std::string(buffer, n);
}

std::optional<std::string> TextOrNull(const std::string& value) {
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace tally::projections
