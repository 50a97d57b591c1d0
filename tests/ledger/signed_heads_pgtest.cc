// Signed heads on real PostgreSQL, through the `tally audit` commands as an auditor runs them:
// a statement signed today still verifies after more appends, and a superuser who rewrites an
// event and then the whole hash chain to match (so the chain check in the database passes)
// is still caught by the statement kept outside the database.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "ledger/auditor.h"
#include "ledger/hash_chain.h"
#include "ledger/head_statement.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

using testing::PaymentCreatedEvent;
using testing::Request;

// A private directory for keys and statements, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tally-audit-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

void AppendPayments(EventStore& store, int tenants, int per_tenant, const std::string& marker) {
  for (int i = 0; i < tenants * per_tenant; ++i) {
    REQUIRE(store
                .Append(Request(absl::StrCat("tenant-", i % tenants), absl::StrCat("payment-", i),
                                ExpectedVersion::Any(), {PaymentCreatedEvent(marker)}))
                .ok());
  }
}

// Events per partition, read as the owner.
std::map<int, int64_t> Positions(const std::string& url) {
  std::map<int, int64_t> positions;
  for (const auto& event : testing::AllEvents(url)) positions[event.partition] = event.position;
  return positions;
}

std::string Bytea(absl::string_view bytes) {
  return absl::StrCat("'\\x", HexEncode(bytes), "'::bytea");
}

// What a superuser can do: with the immutability trigger off, give event `position` of
// `partition` a new payload (the amount changed), recompute every later hash so the chain is
// consistent again, move ledger_heads to the new head, and switch the trigger back on.
void RewriteEventAndChain(const std::string& url, int partition, int64_t position) {
  std::string sql = "BEGIN; ALTER TABLE events DISABLE TRIGGER events_no_update_delete; ";
  std::string prev = GenesisHash();
  for (RecordedEvent event : testing::AllEvents(url)) {
    if (event.partition != partition) continue;
    if (event.position == position) {
      const std::string original = event.payload;
      event.payload = PaymentCreatedEvent("rewritten", 99).payload;
      REQUIRE(event.payload != original);
    }
    const std::string hash = ChainHash(prev, event);
    if (event.position >= position) {
      absl::StrAppend(&sql, "UPDATE events SET payload = ", Bytea(event.payload),
                      ", prev_hash = ", Bytea(prev), ", hash = ", Bytea(hash),
                      " WHERE partition_id = ", partition, " AND position = ", event.position,
                      "; ");
    }
    prev = hash;
  }
  absl::StrAppend(&sql, "UPDATE ledger_heads SET hash = ", Bytea(prev),
                  " WHERE partition_id = ", partition,
                  "; ALTER TABLE events ENABLE TRIGGER events_no_update_delete; COMMIT;");
  testing::ExecAsOwner(url, sql);
}

// A log with events in two partitions, a key pair and a statement of the log's heads.
struct SignedLog {
  std::unique_ptr<ScratchDatabase> db = testing::NewDatabase(2);
  std::unique_ptr<EventStore> store = testing::OpenStore(db->url());
  TempDir dir;
  std::string key = dir / "auditor.pem";
  std::string public_key = dir / "auditor.pem.pub";
  std::string statement = dir / "heads.statement";
  std::map<int, int64_t> signed_positions;

  SignedLog() {
    AppendPayments(*store, 8, 3, "before");
    signed_positions = Positions(db->url());
    REQUIRE(signed_positions.size() == 2);
    REQUIRE(signed_positions[0] >= 3);
    REQUIRE(signed_positions[1] >= 3);
    auto keygen = Tally(absl::StrCat("audit keygen --out ", key));
    REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.output);
    auto sign = Tally(absl::StrCat("audit sign --key ", key, " --out ", statement, " --database '",
                                   db->url(), "'"));
    REQUIRE_MESSAGE(sign.exit_code == 0, sign.output);
  }

  static testing::CommandResult Tally(const std::string& args) {
    return testing::RunCommand(
        absl::StrCat("env -u TALLY_DATABASE_URL ", testing::TallyBinary(), " ", args));
  }

  testing::CommandResult Verify(const std::string& statement_path,
                                const std::string& public_key_path) const {
    return Tally(absl::StrCat("audit verify --statement ", statement_path, " --public-key ",
                              public_key_path, " --database '", db->url(), "'"));
  }
  testing::CommandResult Verify() const { return Verify(statement, public_key); }
};

bool Contains(const std::string& output, const std::string& part) {
  return output.find(part) != std::string::npos;
}

TEST_CASE("audit sign writes each partition's position and head, and audit verify accepts it") {
  SignedLog log;
  const std::string text = ReadText(log.statement);
  auto parsed = ParseStatement(text);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->heads.size() == 2);
  auto chain = VerifyLog(log.db->url());
  REQUIRE(chain.ok());
  for (int p = 0; p < 2; ++p) {
    CHECK(parsed->heads[p].partition == p);
    CHECK(parsed->heads[p].position == log.signed_positions[p]);
    CHECK(parsed->heads[p].head_hex == (*chain)[p].head_hex);
  }

  auto result = log.Verify();
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output == absl::StrCat("partition 0: verified position ", log.signed_positions[0],
                                      " head ", (*chain)[0].head_hex,
                                      "\npartition 1: verified position ", log.signed_positions[1],
                                      " head ", (*chain)[1].head_hex, "\n"));
}

TEST_CASE(
    "a superuser who rewrites an event and the whole chain passes the chain check but not the "
    "statement") {
  SignedLog log;
  RewriteEventAndChain(log.db->url(), 1, 2);

  // The rewrite is invisible to the database's own check: rows and chain agree.
  auto chain = VerifyLog(log.db->url());
  REQUIRE(chain.ok());
  for (const auto& partition : *chain) CHECK(partition.ok);
  auto in_database =
      SignedLog::Tally(absl::StrCat("audit verify --database '", log.db->url(), "'"));
  CHECK(in_database.exit_code == 0);
  CHECK(Contains(in_database.output, "partition 1: verified "));

  // The statement kept outside is not fooled.
  auto result = log.Verify();
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(Contains(result.output, absl::StrCat("partition 1: head differs at position ",
                                             log.signed_positions[1], " (signed ")));
  CHECK(Contains(result.output, absl::StrCat("log now ", (*chain)[1].head_hex, ")")));
  CHECK(Contains(result.output,
                 absl::StrCat("partition 0: verified position ", log.signed_positions[0])));
}

TEST_CASE("a superuser who deletes the latest events and moves the head back is caught") {
  SignedLog log;
  const int64_t keep = log.signed_positions[0] - 2;
  auto events = testing::AllEvents(log.db->url());
  std::string head;
  for (const auto& event : events) {
    if (event.partition == 0 && event.position == keep) head = event.hash;
  }
  testing::ExecAsOwner(
      log.db->url(),
      absl::StrCat("BEGIN; ALTER TABLE events DISABLE TRIGGER events_no_update_delete; "
                   "DELETE FROM events WHERE partition_id = 0 AND position > ",
                   keep, "; UPDATE ledger_heads SET position = ", keep, ", hash = ", Bytea(head),
                   " WHERE partition_id = 0; "
                   "ALTER TABLE events ENABLE TRIGGER events_no_update_delete; COMMIT;"));
  auto chain = VerifyLog(log.db->url());
  REQUIRE(chain.ok());
  CHECK((*chain)[0].ok);

  auto result = log.Verify();
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(Contains(result.output, absl::StrCat("partition 0: position ", log.signed_positions[0],
                                             " beyond the log (it holds ", keep, " events)")));
  CHECK(Contains(result.output, "partition 1: verified "));
}

TEST_CASE("a statement checked against another log fails for each partition it names") {
  SignedLog log;
  auto other = testing::NewDatabase(1);
  AppendPayments(*testing::OpenStore(other->url()), 2, 1, "other");
  auto result =
      SignedLog::Tally(absl::StrCat("audit verify --statement ", log.statement, " --public-key ",
                                    log.public_key, " --database '", other->url(), "'"));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(Contains(result.output, absl::StrCat("partition 0: position ", log.signed_positions[0],
                                             " beyond the log (it holds 2 events)\n")));
  CHECK(Contains(result.output, "partition 1: not in the log\n"));
}

TEST_CASE("events appended after signing leave the statement verified") {
  SignedLog log;
  AppendPayments(*log.store, 8, 2, "after");
  const auto now = Positions(log.db->url());
  CHECK(now.at(0) > log.signed_positions[0]);
  CHECK(now.at(1) > log.signed_positions[1]);

  auto result = log.Verify();
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(Contains(result.output,
                 absl::StrCat("partition 0: verified position ", log.signed_positions[0], " ")));
  CHECK(Contains(result.output,
                 absl::StrCat("partition 1: verified position ", log.signed_positions[1], " ")));
}

TEST_CASE("a statement altered after signing fails its signature") {
  SignedLog log;
  const std::string text = ReadText(log.statement);
  const std::string altered_path = log.dir / "altered.statement";
  // Claim the log was shorter when signed: the position is part of the signed bytes.
  WriteText(altered_path,
            absl::StrReplaceAll(
                text, {{absl::StrCat("partition 0 position ", log.signed_positions[0], " "),
                        absl::StrCat("partition 0 position ", log.signed_positions[0] - 1, " ")}}));
  REQUIRE(ReadText(altered_path) != text);
  auto result = log.Verify(altered_path, log.public_key);
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output == "statement signature invalid: the statement was altered after signing\n");
}

TEST_CASE("a statement checked with another auditor's public key fails") {
  SignedLog log;
  const std::string other = log.dir / "other.pem";
  REQUIRE(SignedLog::Tally(absl::StrCat("audit keygen --out ", other)).exit_code == 0);
  auto result = log.Verify(log.statement, other + ".pub");
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(Contains(result.output, "statement signature invalid: it names key "));
}

TEST_CASE("audit sign refuses a log whose chain is already broken") {
  SignedLog log;
  testing::ExecAsOwner(
      log.db->url(),
      "BEGIN; ALTER TABLE events DISABLE TRIGGER events_no_update_delete; "
      "UPDATE events SET payload = payload || '\\x00'::bytea WHERE partition_id = 1 AND "
      "position = 2; ALTER TABLE events ENABLE TRIGGER events_no_update_delete; COMMIT;");
  auto result = SignedLog::Tally(
      absl::StrCat("audit sign --key ", log.key, " --database '", log.db->url(), "'"));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output ==
        "tally: not signing: hash mismatch at partition 1 position 2 (hash mismatch)\n");
}

TEST_CASE("audit keygen writes a 0600 private key and its public key, and never replaces them") {
  TempDir dir;
  const std::string key = dir / "k.pem";
  auto result = SignedLog::Tally(absl::StrCat("audit keygen --out ", key));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  struct stat info {};
  REQUIRE(stat(key.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(PrivateKeyFromPem(ReadText(key)).ok());
  CHECK(PublicKeyFromPem(ReadText(key + ".pub")).ok());
  const std::string before = ReadText(key);

  auto again = SignedLog::Tally(absl::StrCat("audit keygen --out ", key));
  CHECK(again.exit_code == 2);
  CHECK(Contains(again.output, "already exists"));
  CHECK(ReadText(key) == before);
}

TEST_CASE("bad input to audit sign and audit verify exits 2 with the reason") {
  SignedLog log;
  const std::string database = absl::StrCat(" --database '", log.db->url(), "'");
  const std::string ec_key = log.dir / "ec.pem";
  Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(ec != nullptr);
  WriteText(ec_key, PrivateKeyPem(ec.get()));
  WriteText(ec_key + ".pub", PublicKeyPem(ec.get()));
  const std::string garbled = log.dir / "garbled.statement";
  WriteText(garbled, "tally signed heads v1\nnonsense\n");

  struct Case {
    std::string args;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {absl::StrCat("audit verify --statement ", log.dir / "missing", " --public-key ",
                    log.public_key, database),
       "cannot read "},
      {absl::StrCat("audit verify --statement ", garbled, " --public-key ", log.public_key,
                    database),
       "malformed statement: line 2"},
      {absl::StrCat("audit verify --statement ", log.statement, " --public-key ", ec_key, ".pub",
                    database),
       "not an Ed25519 key"},
      {absl::StrCat("audit verify --statement ", log.statement, " --public-key ", log.key,
                    database),
       "not an unencrypted PEM public key"},
      {absl::StrCat("audit verify --statement ", log.statement, database), "--public-key"},
      {absl::StrCat("audit sign --key ", ec_key, database), "not an Ed25519 key"},
      {absl::StrCat("audit sign --key ", log.public_key, database), "not an unencrypted PEM"},
      {absl::StrCat("audit sign --key ", log.key), "no database"},
      {absl::StrCat("audit sign --key ", log.key, " --out ", log.statement, database),
       "already exists"},
  };
  for (const Case& c : cases) {
    auto result = SignedLog::Tally(c.args);
    INFO(c.args, "\n", result.output);
    CHECK(result.exit_code == 2);
    CHECK(Contains(result.output, c.reason));
    CHECK(std::count(result.output.begin(), result.output.end(), '\n') == 1);
  }
}

}  // namespace
}  // namespace tally::ledger
