#include "tenants/bot_directory.h"

#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::tenants {
using gateways::Sha256Hex;

namespace {

std::string BotKey(const std::string& bot_id) { return absl::StrCat("bot:", bot_id); }

}  // namespace

absl::StatusOr<NewBot> RegisterBot(ledger::EventStore& store, const SecretBox& box,
                                   const std::string& tenant_id, const std::string& bot_token,
                                   const std::string& username) {
  const size_t colon = bot_token.find(':');
  const std::string bot_id = bot_token.substr(0, colon);
  if (colon == std::string::npos || bot_id.empty() || bot_id.size() > 20 ||
      !absl::c_all_of(bot_id, absl::ascii_isdigit) || colon + 1 >= bot_token.size() ||
      bot_token.size() > 128) {
    return absl::InvalidArgumentError("a bot token looks like 123456789:AAE... (from @BotFather)");
  }
  auto tenant = store.ReadStream(tenant_id, "tenant-" + tenant_id);
  if (!tenant.ok()) return tenant.status();
  if (tenant->empty()) return absl::NotFoundError(absl::StrCat("no tenant ", tenant_id));

  std::string raw(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  NewBot bot{bot_id, absl::WebSafeBase64Escape(raw)};  // [A-Za-z0-9_-], as Telegram requires
  bots::v1::BotRegistered registered;
  registered.set_bot_id(bot_id);
  registered.set_tenant_id(tenant_id);
  registered.set_username(username);
  auto sealed = box.Seal(bot_token);
  if (!sealed.ok()) return sealed.status();
  registered.set_token_sealed(*sealed);
  registered.set_webhook_secret_sha256(Sha256Hex(bot.webhook_secret));
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  metadata.set_actor("tally-cli");
  auto result = store.Append({tenant_id,
                              "bot-" + bot_id,
                              ledger::ExpectedVersion::NoStream(),
                              {{"tally.bots.v1.BotRegistered", registered.SerializeAsString(),
                                metadata.SerializeAsString()}},
                              BotKey(bot_id)});
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kAborted) {
      return absl::AlreadyExistsError(absl::StrCat("bot ", bot_id, " is registered already"));
    }
    return result.status();
  }
  if (result->duplicate) {
    return absl::AlreadyExistsError(absl::StrCat("bot ", bot_id, " is registered already"));
  }
  return bot;
}

absl::StatusOr<ResolvedBot> ResolveBot(ledger::EventStore& store, const std::string& bot_id) {
  auto found = store.FindByIdempotencyKey(BotKey(bot_id));
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->type != "tally.bots.v1.BotRegistered") {
    return absl::NotFoundError(absl::StrCat("unknown bot ", bot_id));
  }
  bots::v1::BotRegistered registered;
  if (!registered.ParseFromString((*found)->payload)) {
    return absl::DataLossError("BotRegistered does not parse");
  }
  return ResolvedBot{registered.bot_id(), registered.tenant_id(),
                     registered.webhook_secret_sha256()};
}

}  // namespace tally::tenants
