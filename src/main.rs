//! tailwatch binary: parse the command line, run it, report errors.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tailwatch::app::run(tailwatch::app::Cli::parse())
}
