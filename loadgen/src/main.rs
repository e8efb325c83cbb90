//! The `emdr-loadgen` binary: parse the command line, run the load (or the sink), and turn the
//! result into the exit status: 0 done and every threshold met, 2 a threshold missed, 1 an
//! error. Everything else is in the library (`loadgen`), so that its parts are unit-tested.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Sink(args)) => loadgen::sink::run(&args).map(|()| 0),
        None => cli.load.into_plan(argv).and_then(loadgen::run::run),
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("emdr-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
