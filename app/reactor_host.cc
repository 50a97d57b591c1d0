#include "app/reactor_host.h"

namespace tally::app {

ReactorHost::ReactorHost(ledger::EventStore& store, const ledger::Clock& clock,
                         tenants::SecretBox box, gateways::Transport transport,
                         ReactorHostOptions options) {
  reactors::TelegramOptions telegram;
  if (!options.telegram_api_base.empty()) telegram.api_base = options.telegram_api_base;
  delivery_kind_ = std::make_unique<reactors::DeliveryKind>(store, box, transport, telegram);
  delivery_ = std::make_unique<reactors::DeliveryReactor>(
      store, clock, reactors::DeliveryOptions{options.public_url, options.delivery_secret});
  for (int p = 0; p < options.partitions; ++p) {
    reactors::OutboxSenderOptions sender;
    sender.database_url = options.database_url;
    sender.partition = p;
    senders_.push_back(
        std::make_unique<reactors::OutboxSender>(delivery_kind_->kind(), store, clock, sender));
  }
  outbox_ = std::make_unique<reactors::OutboxFold>(
      std::vector<const reactors::OutboxKind*>{&delivery_kind_->kind()}, [this] {
        for (auto& sender : senders_) sender->Wake();
      });
  for (int p = 0; p < options.partitions; ++p) {
    reactors::ReactorRunnerOptions runner;
    runner.database_url = options.database_url;
    runner.partition = p;
    for (reactors::Reactor* reactor : {static_cast<reactors::Reactor*>(outbox_.get()),
                                       static_cast<reactors::Reactor*>(delivery_.get())}) {
      runners_.push_back(std::make_unique<reactors::ReactorRunner>(*reactor, runner));
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

}  // namespace tally::app
