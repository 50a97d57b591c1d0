#pragma once
// `tally audit verify | sign | keygen | as-of`: the hash chain checked in the database, signed
// heads kept outside it (ledger/head_statement.h, docs/AUDIT.md), and the projections' state as
// of a time (projections/as_of.h). Kept apart from main.cc:
// AddAuditCommands registers the subcommands and returns what runs the chosen one.

#include <CLI/CLI.hpp>

#include "app/job_commands.h"

namespace tally::app {

ChosenCommand AddAuditCommands(CLI::App& app);

// `tally replay --stream S | --tenant T [--from TIME --to TIME]` (app/replay_command.cc).
ChosenCommand AddReplayCommand(CLI::App& app);

}  // namespace tally::app
