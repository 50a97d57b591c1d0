// Tenants read from the log: a corrupt event in a tenant's stream is an error, never a silent
// "not configured" or an empty token.

#include "tenants/tenant_directory.h"

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "gateways/registry.h"
#include "tests/support/pg.h"

namespace tally::tenants {
namespace {

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST_CASE("a GatewayConfigured that does not parse is DataLoss, not 'not configured'") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto box = *SecretBox::FromHex(kMasterKey);
  auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  REQUIRE(ConfigureGateway(*store, box, gateways::StandardGateways(), tenant->tenant_id,
                           {"paradise", "s", "k", ""})
              .ok());
  REQUIRE(ResolveWebhookToken(*store, box, tenant->webhook_token, "paradise").ok());
  REQUIRE(ResolveGatewayAccount(*store, box, tenant->tenant_id, "paradise").ok());

  // The appender refuses payloads that do not parse, so corruption can only come from outside
  // (tampering, a bad restore): written here as the superuser, past the appender. Bytes that
  // are no protobuf message (a truncated length-delimited field).
  {
    pqxx::connection c(db->url());
    pqxx::work txn(c);
    txn.exec_params(
        "INSERT INTO events (partition_id, position, stream_id, stream_version, event_type, "
        "payload, metadata, recorded_at, prev_hash, hash) "
        "SELECT partition_id, position + 1, $1, 99, 'tally.tenants.v1.GatewayConfigured', "
        "'\\x0a7f'::bytea, ''::bytea, now(), hash, hash FROM ledger_heads",
        "tenant-" + tenant->tenant_id);
    txn.exec0("UPDATE ledger_heads SET position = position + 1");
    txn.commit();
  }
  auto resolved = ResolveWebhookToken(*store, box, tenant->webhook_token, "paradise");
  CHECK(resolved.status().code() == absl::StatusCode::kDataLoss);
  auto account = ResolveGatewayAccount(*store, box, tenant->tenant_id, "paradise");
  CHECK(account.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("gateways are checked against the registry") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto box = *SecretBox::FromHex(kMasterKey);
  auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  absl::Status unknown = ConfigureGateway(*store, box, gateways::StandardGateways(),
                                          tenant->tenant_id, {"paypal", "", "", ""});
  CHECK(unknown.code() == absl::StatusCode::kInvalidArgument);
  CHECK(unknown.message().find("pushinpay, paradise, atomopay, mercadopago, stripe") !=
        absl::string_view::npos);
}

TEST_CASE(
    "an admin key belongs to no tenant and is known only by its hash, and no tenant key is one") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto box = *SecretBox::FromHex(kMasterKey);
  auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());

  auto admin = IssueSystemApiKey(*store, "admin");
  REQUIRE_MESSAGE(admin.ok(), admin.status().ToString());
  auto principal = ResolveApiKey(*store, admin->api_key);
  REQUIRE(principal.ok());
  CHECK(principal->scope == "admin");
  CHECK(principal->tenant_id.empty());
  CHECK(principal->key_id == admin->key_id);

  auto owner = ResolveApiKey(*store, tenant->api_key);
  REQUIRE(owner.ok());
  CHECK(owner->scope == "owner");
  CHECK(owner->tenant_id == tenant->tenant_id);

  // Owner keys are issued for tenants only, system keys of system scopes only.
  CHECK(IssueSystemApiKey(*store, "owner").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(IssueApiKey(*store, tenant->tenant_id, "admin").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ResolveApiKey(*store, admin->api_key + "x").status().code() == absl::StatusCode::kNotFound);

  // The key itself is nowhere in the log.
  pqxx::connection c(db->url());
  pqxx::nontransaction txn(c);
  auto rows = txn.exec_params(
      "SELECT count(*) FROM events WHERE stream_id = 'admin-keys' AND position(convert_to($1, "
      "'UTF8') IN payload) = 0 AND position($1 IN idempotency_key) = 0",
      admin->api_key);
  CHECK(rows[0][0].as<int>() == 1);
}

TEST_CASE("auditor keys: one tenant's (in its stream) or every tenant's (a system key)") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto box = *SecretBox::FromHex(kMasterKey);
  auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());

  auto bound = IssueApiKey(*store, tenant->tenant_id, kAuditorScope);
  REQUIRE_MESSAGE(bound.ok(), bound.status().ToString());
  auto bound_principal = ResolveApiKey(*store, *bound);
  REQUIRE(bound_principal.ok());
  CHECK(bound_principal->scope == "auditor");
  CHECK(bound_principal->tenant_id == tenant->tenant_id);

  auto all = IssueSystemApiKey(*store, kAuditorScope);
  REQUIRE_MESSAGE(all.ok(), all.status().ToString());
  auto all_principal = ResolveApiKey(*store, all->api_key);
  REQUIRE(all_principal.ok());
  CHECK(all_principal->scope == "auditor");
  CHECK(all_principal->tenant_id.empty());

  CHECK(IssueApiKey(*store, tenant->tenant_id, "reader").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(IssueApiKey(*store, "t_nosuchtenant", kAuditorScope).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("tally tenants api-key --scope auditor and tally admin keys create --scope auditor") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto box = *SecretBox::FromHex(kMasterKey);
  auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  const std::string db_flag = " --database '" + db->url() + "'";
  // The key is the second word of the line "api key <key>".
  auto key_of = [](const std::string& output) {
    const size_t at = output.find("api key ");
    REQUIRE(at != std::string::npos);
    const size_t start = at + 8;
    return output.substr(start, output.find('\n', start) - start);
  };

  testing::CommandResult bound =
      testing::RunCommand(testing::TallyBinary() + " tenants api-key --tenant " +
                          tenant->tenant_id + " --scope auditor" + db_flag);
  REQUIRE_MESSAGE(bound.exit_code == 0, bound.output);
  auto bound_principal = ResolveApiKey(*store, key_of(bound.output));
  REQUIRE(bound_principal.ok());
  CHECK(bound_principal->scope == "auditor");
  CHECK(bound_principal->tenant_id == tenant->tenant_id);

  testing::CommandResult owner = testing::RunCommand(
      testing::TallyBinary() + " tenants api-key --tenant " + tenant->tenant_id + db_flag);
  REQUIRE_MESSAGE(owner.exit_code == 0, owner.output);
  CHECK(ResolveApiKey(*store, key_of(owner.output))->scope == "owner");

  testing::CommandResult all =
      testing::RunCommand(testing::TallyBinary() + " admin keys create --scope auditor" + db_flag);
  REQUIRE_MESSAGE(all.exit_code == 0, all.output);
  auto all_principal = ResolveApiKey(*store, key_of(all.output));
  REQUIRE(all_principal.ok());
  CHECK(all_principal->scope == "auditor");
  CHECK(all_principal->tenant_id.empty());

  testing::CommandResult wrong =
      testing::RunCommand(testing::TallyBinary() + " tenants api-key --tenant " +
                          tenant->tenant_id + " --scope admin" + db_flag);
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.output.find("--scope must be owner or auditor") != std::string::npos);
}

}  // namespace
}  // namespace tally::tenants
