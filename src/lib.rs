//! The `tracegate` command line: run a pipeline config (the default), validate it, print it
//! as it will run, or list the components this build links.
//!
//! It is a library (with src/main.rs a two-line binary) so that a custom build, a crate whose
//! `main` calls [`main`] and that depends on extra component or plugin crates, gets the whole
//! CLI and every built-in component with them: see docs/plugins.md.

mod components;
mod env_config;
#[cfg(test)]
mod lifecycle_tests;
mod loader;
mod redact;
mod reload;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracegate_core::config::{ConfigProblem, ConfigSources};
use tracegate_core::factory::{Origin, Registry};
use tracegate_core::Kind;

#[derive(Parser)]
#[command(name = "tracegate", version, about = "A pluggable tracing gateway that is also a drop-in Jaeger")]
struct Cli {
    /// Config file; repeat to merge several (maps merge deeply, lists replace).
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Override one key, e.g. `--set processors.batch.timeout=2s` (use `::` when an id has a dot).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines (the default when no command is given).
    Run,
    /// Check the config without starting anything; prints every problem.
    Validate,
    /// List every registered receiver, processor, exporter and extension.
    Components,
    /// Print the effective config: env expanded, files merged, --set applied, defaults filled
    /// (credentials shown as [REDACTED]). With no --config: the config the environment makes.
    PrintConfig,
}

/// Runs the command line. The `tracegate` binary is just this; a custom build (a `main.rs`
/// that also links plugin crates, see docs/plugins.md) calls it too.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    components::link();
    let registry = Registry::builtin();
    let sources = ConfigSources { files: cli.config, sets: cli.set };
    match cli.command.unwrap_or(Command::Run) {
        Command::Components => {
            // With --config, the plugins it lists are loaded and shown too.
            if sources.files.is_empty() {
                print_components(&registry);
            } else {
                match sources.registry_with_plugins(&registry) {
                    Ok(with_plugins) => print_components(&with_plugins),
                    Err(problems) => return invalid(&problems),
                }
            }
            ExitCode::SUCCESS
        }
        command => {
            // No --config: the environment configures a Jaeger all-in-one (see env_config).
            let loader = loader::Loader::new(sources, registry);
            let loaded = match loader.load() {
                Ok(loaded) => loaded,
                Err(problems) => return invalid(&problems),
            };
            match command {
                Command::Validate => {
                    let valid = &loaded.config;
                    print_problems(&valid.warnings);
                    println!("config is valid: {} pipeline(s), {} component(s)", valid.pipelines.len(), valid.components.len());
                    ExitCode::SUCCESS
                }
                Command::PrintConfig => {
                    print_problems(&loaded.config.warnings);
                    let mut effective = loaded.config.effective();
                    redact::redact(&mut effective);
                    match serde_yaml_ng::to_string(&effective) {
                        Ok(text) => {
                            print!("{text}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("tracegate: cannot render the config: {e}");
                            ExitCode::FAILURE
                        }
                    }
                }
                _ => match run::run(loaded, &loader) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("tracegate: {e:#}");
                        ExitCode::FAILURE
                    }
                },
            }
        }
    }
}

fn invalid(problems: &[ConfigProblem]) -> ExitCode {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    eprintln!("tracegate: invalid configuration ({errors} error(s)):");
    print_problems(problems);
    ExitCode::FAILURE
}

fn print_problems(problems: &[ConfigProblem]) {
    for p in problems.iter().filter(|p| p.is_error()) {
        eprintln!("  error: {p}");
    }
    for p in problems.iter().filter(|p| !p.is_error()) {
        eprintln!("  warning: {p}");
    }
}

fn print_components(registry: &Registry) {
    println!("{:<10} {:<22} {:<12} ORIGIN", "KIND", "TYPE", "STABILITY");
    for kind in Kind::ALL {
        for f in registry.iter().filter(|f| f.kind() == kind) {
            let origin = match f.origin() {
                Origin::Builtin => "builtin".to_string(),
                Origin::Loaded(path) => format!("loaded from {}", path.display()),
            };
            println!("{:<10} {:<22} {:<12} {origin}", kind.as_str(), f.type_name(), f.stability().as_str());
        }
    }
}
