//! tailwatch binary: parse the command line, run it (`app` starts logging once the settings
//! are known), report errors with an exit code that says what kind (`app::exit`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match tailwatch::app::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(tailwatch::app::exit::CONFIG)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    match tailwatch::app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(tailwatch::app::exit_code(&e))
        }
    }
}
