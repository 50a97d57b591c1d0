#include "reactors/reactor_host.h"

namespace tally::reactors {

ReactorHost::ReactorHost(ledger::EventStore& store, const ledger::Clock& clock,
                         tenants::SecretBox box, gateways::Transport transport,
                         ReactorHostOptions options) {
  TelegramOptions telegram;
  if (!options.telegram_api_base.empty()) telegram.api_base = options.telegram_api_base;
  delivery_kind_ = std::make_unique<DeliveryKind>(store, box, transport, telegram);
  delivery_ = std::make_unique<DeliveryReactor>(
      store, clock, DeliveryOptions{options.public_url, options.delivery_secret});
  for (int p = 0; p < options.partitions; ++p) {
    OutboxSenderOptions sender;
    sender.database_url = options.database_url;
    sender.partition = p;
    senders_.push_back(
        std::make_unique<OutboxSender>(delivery_kind_->kind(), store, clock, sender));
  }
  outbox_ = std::make_unique<OutboxFold>(
      std::vector<const OutboxKind*>{&delivery_kind_->kind()}, [this] {
        for (auto& sender : senders_) sender->Wake();
      });
  for (int p = 0; p < options.partitions; ++p) {
    ReactorRunnerOptions runner;
    runner.database_url = options.database_url;
    runner.partition = p;
    for (Reactor* reactor : {static_cast<Reactor*>(outbox_.get()),
                                       static_cast<Reactor*>(delivery_.get())}) {
      runners_.push_back(std::make_unique<ReactorRunner>(*reactor, runner));
    }
  }
}

ReactorHost::~ReactorHost() { Stop(); }

void ReactorHost::Start() {
  for (auto& runner : runners_) runner->Start();
  for (auto& sender : senders_) sender->Start();
}

void ReactorHost::Stop() {
  for (auto& sender : senders_) sender->Stop();
  for (auto& runner : runners_) runner->Stop();
}

}  // namespace tally::reactors
