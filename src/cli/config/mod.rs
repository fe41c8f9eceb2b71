//! The configuration file (`--config FILE` / ANNAL_CONFIG) and `annal config check`.

mod client;
mod effective;
pub mod file;
pub mod keys;
pub mod validate;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde_json::json;

use super::{Cli, Global};
use file::FileValues;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration file and the ANNAL_* environment, and print the configuration
    /// `annal serve` would run with (with the same options), each value with its source.
    /// Secrets are never printed. Exits 1 when something is wrong.
    Check {
        /// One JSON document instead of TOML.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        serve: Box<super::serve::ServeArgs>,
    },
}

/// The parsed command line, with what it was parsed from.
pub struct Parsed {
    pub cli: Cli,
    pub matches: ArgMatches,
    pub file: Option<FileValues>,
}

/// Parses the command line over the configuration file's values. A file that cannot be used
/// ends the process with status 2, as a bad command line does.
pub fn parse_from(args: Vec<OsString>) -> Parsed {
    let mut cmd = Cli::command();
    let file = file::config_path(&args).map(|path| {
        file::load(&path, &cmd).unwrap_or_else(|e| {
            eprintln!("annal: {e}");
            std::process::exit(2)
        })
    });
    if let Some(f) = &file {
        cmd = file::apply(cmd, f);
    }
    let matches = cmd.get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Parsed { cli, matches, file }
}

pub async fn run(
    global: &Global,
    cmd: ConfigCommand,
    matches: &ArgMatches,
    file: Option<&FileValues>,
) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check { json, serve } = cmd;
    let check = matches
        .subcommand_matches("config")
        .and_then(|m| m.subcommand_matches("check"))
        .ok_or_else(|| anyhow::anyhow!("config check: no matches"))?;
    let root = Cli::command();
    let settings = effective::settings(&keys::keys(&root), check, file);
    let mut errors = validate::problems(global, &serve);
    let mut warnings: Vec<String> = validate::unknown_env(&root)
        .into_iter()
        .map(|name| format!("{name} is set but no option reads it"))
        .collect();
    // What only trying shows: where serve will write, and whether the store answers.
    match validate::data_dir(&global.data_dir) {
        Ok(Some(note)) => warnings.push(note),
        Ok(None) => {}
        Err(e) => errors.push(e),
    }
    if let Ok(url) = serve.config(global).store_url() {
        if let Err(e) = annal::store::probe(&url).await {
            errors.push(format!("the event store {url} does not answer: {e}"));
        }
    }
    let config_file = file.map(|f| f.path.display().to_string());
    if json {
        let doc = json!({
            "config_file": config_file,
            "valid": errors.is_empty(),
            "errors": errors,
            "warnings": warnings,
            "settings": settings,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        match &config_file {
            Some(path) => println!("# config file: {path}"),
            None => println!("# no config file (--config or ANNAL_CONFIG)"),
        }
        print!("{}", effective::render_toml(&settings));
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        for e in &errors {
            eprintln!("error: {e}");
        }
        if errors.is_empty() {
            eprintln!("configuration OK");
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
