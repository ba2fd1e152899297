//! Process entry: parse, load config, dispatch, report the error once.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::config::Config;
use crate::context::Context;
use crate::error::{MALFORMED_EXIT, is_broken_pipe, is_malformed, is_refusal};
use crate::text::escaped;

pub fn main() -> ExitCode {
    crate::db::tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", escaped(&format!("{err:#}")));
            if is_refusal(&err) {
                ExitCode::from(2)
            } else if is_malformed(&err) {
                ExitCode::from(MALFORMED_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// clap's own errors, cut to one line that points at `--help`.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let command: Vec<&str> = rendered
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .unwrap_or("reporter")
        .split_whitespace()
        .take_while(|word| !word.starts_with(['-', '<', '[']))
        .collect();
    // clap's suggestion ("a similar subcommand exists: 'reserve'") is kept.
    let tips: String = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tip: "))
        .map(|tip| format!("; {tip}"))
        .collect();
    let message = message.join(" ");
    eprintln!(
        "{}{tips}; see `{} --help`",
        escaped(message.trim_end_matches(':')),
        command.join(" ")
    );
    ExitCode::from(2)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::logging::init(cli.global.verbose, cli.global.quiet);
    // Generated from the clap definitions alone, or (doctor) reporting a broken
    // config as a failed check, or (portal import) reading a config it may
    // rewrite: these load the config themselves, if at all.
    match &cli.command {
        Command::Doctor(args) => return args.run(&cli.global.overrides(), cli.global.json),
        Command::Portal(commands::portal::PortalCommand::Import(args)) => {
            return args.run(&cli.global.overrides(), cli.global.quiet);
        }
        Command::Completions(args) => {
            return args.run(Cli::command()).map(|()| ExitCode::SUCCESS);
        }
        Command::Manpage(args) => return args.run(Cli::command()).map(|()| ExitCode::SUCCESS),
        _ => {}
    }
    let config = Config::load(&cli.global.overrides())?;
    let ctx = Context::new(config, cli.global.json, cli.global.quiet);
    // A busy timeout says who likely holds the database's lock.
    dispatch(&cli.command, &ctx)
        .map_err(|err| crate::db::busy::explain_at(&ctx.config.database, err))
}

fn dispatch(command: &Command, ctx: &Context) -> anyhow::Result<ExitCode> {
    match command {
        Command::Users(command) => command.run(ctx)?,
        Command::Slots(args) => args.run(ctx)?,
        Command::Reserve(args) => args.run(ctx)?,
        Command::Reservations(args) => args.run(ctx)?,
        Command::Cancel(args) => args.run(ctx)?,
        Command::RunSlot(args) => args.run(ctx)?,
        Command::Work(args) => return commands::work::run(args, ctx),
        Command::Portal(command) => return command.run(ctx),
        Command::Progress(args) => args.run(ctx)?,
        Command::Status(args) => args.run(ctx)?,
        Command::ResetSemaphore(args) => args.run(ctx)?,
        Command::Metrics(args) => args.run(ctx)?,
        Command::Serve(args) => return commands::serve::run(args, ctx),
        Command::Tokens(command) => command.run(ctx)?,
        Command::Doctor(_) | Command::Completions(_) | Command::Manpage(_) => {
            unreachable!("run before the config")
        }
    }
    Ok(ExitCode::SUCCESS)
}
