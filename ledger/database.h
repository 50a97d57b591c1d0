#pragma once
// Connections to PostgreSQL for the ledger and the modules built on it.
//
// `Connect` opens one libpqxx connection that never silently reconnects (a reconnect would drop
// session state such as the role). With `Session::kService`, the session switches to the
// `tally_app` role, which may only INSERT and SELECT on `events`: the service never runs with
// the owner's privileges even when the URL names the owner; `kProjector` likewise switches to
// `tally_projector`. `kOwner` keeps the URL's role and is for migrations and operator commands.
//
// `StatusFromException` maps a libpqxx/std exception onto the most specific absl code; it is
// how library exceptions become Status at the module edge.

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::ledger {

inline constexpr absl::string_view kServiceRole = "tally_app";
inline constexpr absl::string_view kProjectorRole = "tally_projector";

// kService: appends and reads the log. kProjector: reads the log, owns the projection tables.
// kOwner: whatever the URL's role may do (migrations, operator commands).
enum class Session { kOwner, kService, kProjector };

// What a session runs right after connecting ("" for kOwner): the role switch, and UTC so
// that timestamps read back as text are the same whatever the server's zone. Shared by the
// libpqxx and the raw libpq connections so they cannot drift apart.
std::string SessionSetupSql(Session session);

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const std::string& url, Session session);

absl::Status StatusFromException(const std::exception& e, absl::string_view context);

// The same connection parameters with another database name, as a keyword/value conninfo
// string. Accepts URIs and keyword/value strings; InvalidArgument when `url` does not parse.
absl::StatusOr<std::string> WithDatabaseName(const std::string& url, const std::string& dbname);

// Renders a PostgreSQL text-array literal ("{\"a\",\"b\"}") for passing a list as one
// parameter, e.g. `WHERE stream_id = ANY($2::text[])`. Elements are quoted and escaped.
std::string TextArrayLiteral(const std::vector<std::string>& items);

// As TextArrayLiteral, with nullopt elements rendered as NULL.
std::string NullableTextArrayLiteral(const std::vector<std::optional<std::string>>& items);

// Converts a bytea field's value to raw bytes.
std::string BytesFromField(const pqxx::field& field);

}  // namespace tally::ledger
