#include "app/audit_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/commands.h"
#include "ledger/auditor.h"
#include "ledger/event_json.h"
#include "ledger/hash_chain.h"
#include "ledger/head_proof.h"
#include "ledger/head_statement.h"
#include "projections/as_of.h"

namespace tally::app {
namespace {

// A statement or a PEM key is a few kilobytes; anything far larger is not one.
constexpr std::streamsize kMaxInputBytes = 1 << 20;

struct AuditCli {
  std::string database_url;
  std::string statement;
  std::string public_key;
  std::string key;
  std::string out;
  std::string time;
  std::string tenant;
  std::string view = "payments";
  bool json = false;
};

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  std::string text(kMaxInputBytes + 1, '\0');
  in.read(text.data(), kMaxInputBytes + 1);
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  text.resize(in.gcount());
  if (in.gcount() > kMaxInputBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is larger than 1 MiB"));
  }
  return text;
}

// Creates `path` with `mode`, refusing to replace an existing file.
absl::Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat(path, ": ", strerror(errno)));
  // open() applies the umask; the mode asked for is what the file must have.
  bool ok = fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok) return absl::InternalError(absl::StrCat("writing ", path, ": ", strerror(errno)));
  return absl::OkStatus();
}

int RunKeygen(const std::string& out) {
  const std::string public_path = out + ".pub";
  if (access(out.c_str(), F_OK) == 0 || access(public_path.c_str(), F_OK) == 0) {
    return Fail(2, absl::StrCat(out, " or ", public_path, " already exists; not replacing a key"));
  }
  auto key = ledger::GenerateSigningKey();
  if (!key.ok()) return Fail(2, std::string(key.status().message()));
  auto fingerprint = ledger::KeyFingerprint(key->get());
  if (!fingerprint.ok()) return Fail(2, std::string(fingerprint.status().message()));
  if (auto s = WriteNewFile(out, ledger::PrivateKeyPem(key->get()), 0600); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  if (auto s = WriteNewFile(public_path, ledger::PublicKeyPem(key->get()), 0644); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  std::cout << "wrote private key " << out << " (0600) and public key " << public_path << ", key "
            << *fingerprint << "\n";
  return 0;
}

int RunSign(const AuditCli& cli) {
  auto pem = ReadSmallFile(cli.key);
  if (!pem.ok()) return Fail(2, std::string(pem.status().message()));
  auto key = ledger::PrivateKeyFromPem(*pem);
  if (!key.ok()) return Fail(2, absl::StrCat(cli.key, ": ", key.status().message()));
  if (cli.database_url.empty()) {
    return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  // Refused now rather than after reading the whole log (WriteNewFile refuses it again).
  if (!cli.out.empty() && access(cli.out.c_str(), F_OK) == 0) {
    return Fail(2, absl::StrCat(cli.out, " already exists; not replacing a statement"));
  }
  // Only a chain that verifies is signed: a statement vouches for the log as it was.
  auto verified = ledger::VerifyLog(cli.database_url);
  if (!verified.ok()) return Fail(2, std::string(verified.status().message()));
  ledger::HeadStatement statement;
  statement.time = ledger::StatementTime(absl::Now());
  for (const auto& partition : *verified) {
    if (!partition.ok) {
      return Fail(1,
                  absl::StrCat("not signing: hash mismatch at partition ", partition.partition,
                               " position ", partition.bad_position, " (", partition.problem, ")"));
    }
    statement.heads.push_back(
        {partition.partition, partition.events,
         partition.events == 0 ? ledger::HexEncode(ledger::GenesisHash()) : partition.head_hex});
  }
  if (statement.heads.empty()) return Fail(2, "the log has no partitions: run tally migrate");
  auto signed_statement = ledger::SignStatement(std::move(statement), key->get());
  if (!signed_statement.ok()) return Fail(2, std::string(signed_statement.status().message()));
  const std::string text = ledger::FormatStatement(*signed_statement);
  if (cli.out.empty()) {
    std::cout << text;
    std::cout.flush();
    return 0;
  }
  if (auto s = WriteNewFile(cli.out, text, 0644); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  std::cout << "signed the heads of " << signed_statement->heads.size() << " partition"
            << (signed_statement->heads.size() == 1 ? "" : "s") << " into " << cli.out << ", key "
            << signed_statement->key_hex << "\n";
  return 0;
}

std::string Describe(const ledger::HeadCheck& check, const ledger::SignedHead& head) {
  const std::string prefix = absl::StrCat("partition ", check.partition, ": ");
  switch (check.match) {
    case ledger::HeadMatch::kVerified:
      return absl::StrCat(prefix, "verified position ", check.position, " head ", head.head_hex);
    case ledger::HeadMatch::kHeadDiffers:
      if (check.missing_position > 0) {
        return absl::StrCat(prefix, "head differs at position ", check.position, " (position ",
                            check.missing_position, " is missing from the log)");
      }
      return absl::StrCat(prefix, "head differs at position ", check.position, " (signed ",
                          head.head_hex, ", log now ", check.log_head_hex, ")");
    case ledger::HeadMatch::kBeyondLog:
      return absl::StrCat(prefix, "position ", check.position, " beyond the log (it holds ",
                          check.log_position, " events)");
    case ledger::HeadMatch::kMissingPartition:
      return absl::StrCat(prefix, "not in the log");
  }
  return prefix;
}

int RunVerifyStatement(const AuditCli& cli) {
  auto text = ReadSmallFile(cli.statement);
  if (!text.ok()) return Fail(2, std::string(text.status().message()));
  auto statement = ledger::ParseStatement(*text);
  if (!statement.ok())
    return Fail(2, absl::StrCat(cli.statement, ": ", statement.status().message()));
  auto pem = ReadSmallFile(cli.public_key);
  if (!pem.ok()) return Fail(2, std::string(pem.status().message()));
  auto key = ledger::PublicKeyFromPem(*pem);
  if (!key.ok()) return Fail(2, absl::StrCat(cli.public_key, ": ", key.status().message()));
  if (cli.database_url.empty()) {
    return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  const absl::Status signature = ledger::VerifyStatementSignature(*statement, key->get());
  if (signature.code() == absl::StatusCode::kUnauthenticated) {
    auto fingerprint = ledger::KeyFingerprint(key->get());
    std::cout << "statement signature invalid"
              << (fingerprint.ok() && *fingerprint != statement->key_hex
                      ? absl::StrCat(": it names key ", statement->key_hex, ", ", cli.public_key,
                                     " is key ", *fingerprint)
                      : ": the statement was altered after signing")
              << "\n";
    return 1;
  }
  if (!signature.ok()) return Fail(2, std::string(signature.message()));
  auto checks = ledger::CheckSignedHeads(cli.database_url, statement->heads);
  if (!checks.ok()) return Fail(2, std::string(checks.status().message()));
  int rc = 0;
  for (size_t i = 0; i < checks->size(); ++i) {
    const ledger::HeadCheck& check = (*checks)[i];
    std::cout << Describe(check, statement->heads[i]) << "\n";
    if (check.match != ledger::HeadMatch::kVerified) rc = 1;
  }
  return rc;
}

int RunAsOf(const AuditCli& cli) {
  auto time_us = projections::ParseAsOfTime(cli.time);
  if (!time_us.ok()) return Fail(2, absl::StrCat("--", time_us.status().message()));
  if (cli.view != "payments" && cli.view != "revenue") {
    return Fail(
        2, absl::StrCat("--view: unknown view \"", cli.view, "\" (", projections::kAsOfViews, ")"));
  }
  if (cli.database_url.empty()) {
    return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  auto state = projections::FoldAsOf(cli.database_url, cli.view, *time_us, cli.tenant);
  if (!state.ok()) return Fail(2, std::string(state.status().message()));
  if (cli.json) {
    std::cout << projections::AsOfJson(*state) << "\n";
    std::cout.flush();
    return 0;
  }
  std::cout << "as of " << ledger::FormatMicros(state->time_us) << " ("
            << (cli.tenant.empty() ? "every tenant" : "tenant " + cli.tenant) << "): view "
            << cli.view << ", " << state->events_folded << " events folded, " << state->rows.size()
            << " rows\n";
  for (const projections::AsOfCut& cut : state->cuts) {
    std::cout << "partition " << cut.partition << ": up to position " << cut.position;
    if (cut.position > 0)
      std::cout << " (recorded " << ledger::FormatMicros(cut.recorded_at_us) << ")";
    std::cout << "\n";
  }
  // Tab-separated, a header line first; NULL is an empty field.
  for (size_t c = 0; c < state->table.columns.size(); ++c) {
    std::cout << (c == 0 ? "" : "\t") << state->table.columns[c].name;
  }
  std::cout << "\n";
  for (const projections::Row& row : state->rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      std::cout << (c == 0 ? "" : "\t") << row[c].value_or("");
    }
    std::cout << "\n";
  }
  std::cout.flush();
  return 0;
}

void AddDatabaseOption(CLI::App* command, std::string* url) {
  command
      ->add_option("--database", *url,
                   "PostgreSQL connection URL or conninfo string (env TALLY_DATABASE_URL)")
      ->envname("TALLY_DATABASE_URL");
}

}  // namespace

ChosenCommand AddAuditCommands(CLI::App& app) {
  auto cli = std::make_shared<AuditCli>();
  auto* audit = app.add_subcommand("audit", "Auditor commands (docs/AUDIT.md).");
  audit->require_subcommand(1);

  auto* verify = audit->add_subcommand(
      "verify",
      "Without --statement: recompute the hash chain of every partition; exit 0 and 'verified N "
      "events, head <hex>' per partition, exit 1 and 'hash mismatch at partition P position N' "
      "on the first bad event. With --statement and --public-key: check the statement's Ed25519 "
      "signature, then recompute each signed partition's chain from its rows up to the signed "
      "position; exit 0 and 'partition P: verified position N head <hex>' per partition, exit 1 "
      "with one line per problem (statement signature invalid, head differs, position beyond "
      "the log, partition not in the log), exit 2 for bad input.");
  AddDatabaseOption(verify, &cli->database_url);
  auto* statement_option =
      verify->add_option("--statement", cli->statement, "A statement written by tally audit sign");
  auto* public_key_option =
      verify->add_option("--public-key", cli->public_key, "The signer's Ed25519 public key (PEM)");
  statement_option->needs(public_key_option);
  public_key_option->needs(statement_option);

  auto* sign = audit->add_subcommand(
      "sign",
      "Verify the hash chain (as audit verify does; exit 1 without signing if it fails), then "
      "write a statement of every partition's position and head hash and the time, signed "
      "with an Ed25519 private key. Keep it outside the database: audit verify --statement "
      "later proves the log still holds those heads.");
  AddDatabaseOption(sign, &cli->database_url);
  sign->add_option("--key", cli->key, "Ed25519 private key (PEM, from tally audit keygen)")
      ->required();
  sign->add_option("--out", cli->out,
                   "Write the statement to this new file (refuses to replace one) instead of "
                   "stdout");

  auto* keygen = audit->add_subcommand(
      "keygen",
      "Create an Ed25519 key pair for audit sign: the private key (PEM, mode 0600) at --out and "
      "the public key (PEM) at <out>.pub. Refuses to replace existing files.");
  keygen->add_option("--out", cli->out, "Path of the private key")->required();

  auto* as_of = audit->add_subcommand(
      "as-of",
      "What the books said at --time: fold the log up to the last event recorded at or before "
      "that time (per partition) with the projections' own fold code, and print the view's "
      "rows (tab-separated, or JSON with --json) and the cut positions. Later events never "
      "change the answer. Exit 2 for a bad time or view.");
  AddDatabaseOption(as_of, &cli->database_url);
  as_of->add_option("--time", cli->time, "RFC 3339 time, e.g. 2026-11-22T10:00:00Z")->required();
  as_of->add_option("--tenant", cli->tenant, "Only this tenant's rows (and its partition)");
  as_of->add_option("--view", cli->view, "payments or revenue")->capture_default_str();
  as_of->add_flag("--json", cli->json, "One JSON object: cuts and rows (column -> value)");

  return [cli, verify, sign, keygen, as_of]() -> std::optional<int> {
    if (*keygen) return RunKeygen(cli->out);
    if (*as_of) return RunAsOf(*cli);
    if (*sign) return RunSign(*cli);
    if (*verify) {
      if (!cli->statement.empty()) return RunVerifyStatement(*cli);
      if (cli->database_url.empty()) {
        return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
      }
      return RunAuditVerify(cli->database_url);
    }
    return std::nullopt;
  };
}

}  // namespace tally::app
