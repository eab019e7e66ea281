//! tailwatch binary: parse the command line, run it (`app` starts logging once the settings
//! are known), report errors.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tailwatch::app::run(tailwatch::app::Cli::parse())
}
