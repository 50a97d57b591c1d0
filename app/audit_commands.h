#pragma once
// `tally audit verify | sign | keygen`: the hash chain checked in the database, and signed
// heads kept outside it (ledger/head_statement.h, docs/AUDIT.md). Kept apart from main.cc:
// AddAuditCommands registers the subcommands and returns what runs the chosen one.

#include <CLI/CLI.hpp>

#include "app/job_commands.h"

namespace tally::app {

ChosenCommand AddAuditCommands(CLI::App& app);

}  // namespace tally::app
