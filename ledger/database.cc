#include "ledger/database.h"

#include <libpq-fe.h>

#include "absl/strings/str_cat.h"

namespace tally::ledger {
namespace {

void AppendQuotedElement(std::string& out, absl::string_view item) {
  out.push_back('"');
  for (char c : item) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& url, Session session) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    if (session != Session::kOwner) {
      pqxx::nontransaction txn(*conn);
      txn.exec(SessionSetupSql(session));
    }
    return conn;
  } catch (const std::exception& e) {
    return StatusFromException(e, "connecting to PostgreSQL");
  }
}

std::string SessionSetupSql(Session session) {
  if (session == Session::kOwner) return "";
  return absl::StrCat("SET ROLE ", session == Session::kService ? kServiceRole : kProjectorRole,
                      "; SET TimeZone = 'UTC'");
}

absl::Status StatusFromException(const std::exception& e, absl::string_view context) {
  const std::string message = absl::StrCat(context, ": ", e.what());
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(message);
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(message);
  }
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
    return absl::PermissionDeniedError(message);
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(message);
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot
    // connect now. All of them mean "try again later".
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return absl::UnavailableError(message);
    }
    if (state == "42P01" || state == "42703") return absl::FailedPreconditionError(message);
    return absl::InternalError(message);
  }
  return absl::InternalError(message);
}

absl::StatusOr<std::string> WithDatabaseName(const std::string& url, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("bad database URL: ", message));
  }
  auto quote = [](absl::string_view value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\\' || c == '\'') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('\'');
    return out;
  };
  std::string result;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || absl::string_view(option->keyword) == "dbname") continue;
    absl::StrAppend(&result, option->keyword, "=", quote(option->val), " ");
  }
  PQconninfoFree(options);
  absl::StrAppend(&result, "dbname=", quote(dbname));
  return result;
}

std::string NullableTextArrayLiteral(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (items[i].has_value()) {
      AppendQuotedElement(out, *items[i]);
    } else {
      out.append("NULL");
    }
  }
  out.push_back('}');
  return out;
}

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendQuotedElement(out, items[i]);
  }
  out.push_back('}');
  return out;
}

std::string BytesFromField(const pqxx::field& field) {
  pqxx::binarystring bytes(field);
  return bytes.str();
}

}  // namespace tally::ledger
