//! Command-line and environment parsing shared by both programs.
//!
//! Flags are read as text by clap and converted here, so that a bad value can be
//! reported in one line naming where it came from (`--port` or `SERVER_PORT`).

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};
use std::fmt::Display;
use std::process::ExitCode;

/// Exit status for bad flags or environment values.
pub const USAGE_EXIT: u8 = 2;

/// A bad flag or environment value, already phrased for the user.
#[derive(Debug)]
pub struct UsageError(pub String);

impl UsageError {
    /// Prints the error as one line prefixed with the program name; returns exit status 2.
    pub fn report(&self, program: &str) -> ExitCode {
        eprintln!("{program}: {}", self.0);
        ExitCode::from(USAGE_EXIT)
    }
}

/// Parsed arguments plus what is needed to say where each value came from.
pub struct Args<T> {
    pub parsed: T,
    matches: ArgMatches,
    command: Command,
}

/// Parses the process's arguments. `--help`/`--version` print and exit 0; any clap error
/// prints one line and exits 2 (this runs before any thread is started).
pub fn parse<T: CommandFactory + FromArgMatches>(program: &str) -> Args<T> {
    let command = T::command();
    let matches = command
        .clone()
        .try_get_matches()
        .unwrap_or_else(|error| exit_on_clap_error(program, &error));
    let parsed =
        T::from_arg_matches(&matches).unwrap_or_else(|error| exit_on_clap_error(program, &error));
    Args {
        parsed,
        matches,
        command,
    }
}

fn exit_on_clap_error(program: &str, error: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            std::process::exit(0);
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("{program}: {first} (try --help)");
            std::process::exit(USAGE_EXIT.into());
        }
    }
}

impl<T> Args<T> {
    /// Converts the text value of argument `id` (flag, env or default).
    pub fn value<V, E: Display>(
        &self,
        id: &str,
        convert: impl FnOnce(&str) -> Result<V, E>,
    ) -> Result<V, UsageError> {
        match self.optional(id, convert)? {
            Some(value) => Ok(value),
            None => Err(UsageError(format!("missing value for {}", self.origin(id)))),
        }
    }

    /// Like [`Args::value`] for an argument without a default.
    pub fn optional<V, E: Display>(
        &self,
        id: &str,
        convert: impl FnOnce(&str) -> Result<V, E>,
    ) -> Result<Option<V>, UsageError> {
        let Some(text) = self.matches.get_one::<String>(id) else {
            return Ok(None);
        };
        convert(text)
            .map(Some)
            .map_err(|error| self.invalid(id, error))
    }

    /// The error for a value of argument `id` that is wrong as given.
    pub fn invalid(&self, id: &str, problem: impl Display) -> UsageError {
        let text = self
            .matches
            .get_one::<String>(id)
            .map_or(String::new(), |text| format!(" {text:?}"));
        UsageError(format!(
            "invalid value{text} for {}: {problem}",
            self.origin(id)
        ))
    }

    /// `SERVER_PORT` when the value came from the environment, else `--port`.
    fn origin(&self, id: &str) -> String {
        let Some(arg) = self.command.get_arguments().find(|arg| arg.get_id() == id) else {
            return id.to_string();
        };
        let from_env = self.matches.value_source(id) == Some(ValueSource::EnvVariable);
        match (arg.get_env(), arg.get_long()) {
            (Some(name), _) if from_env => {
                format!("environment variable {}", name.to_string_lossy())
            }
            (_, Some(long)) => format!("--{long}"),
            _ => id.to_string(),
        }
    }
}

/// Parses a positive duration (`5`, `500ms`, `2s`).
pub fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = crate::duration::parse(text)?;
    if duration.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(duration)
}
