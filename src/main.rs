//! tailwatch binary: start logging, parse the command line, run it, report errors.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = tailwatch::app::Cli::parse();
    tailwatch::app::init_logging(cli.default_log_level());
    tailwatch::app::run(cli)
}
