//! Log setup for both programs: text on stderr, or journald's native protocol when
//! systemd says stderr is the journal (JOURNAL_STREAM matches stderr's device and inode).

use crate::cli::UsageError;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::str::FromStr;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. The level comes from `flag` (`--log-level`), else
/// RUST_LOG, else `info`. Accepts a level (`debug`) or directives (`duet=debug,hyper=warn`).
pub fn init(flag: Option<&str>) -> Result<(), UsageError> {
    let (spec, origin) = match flag {
        Some(spec) => (spec.to_string(), "--log-level"),
        None => match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.trim().is_empty() => (spec, "environment variable RUST_LOG"),
            _ => ("info".to_string(), "the default"),
        },
    };
    let filter = parse_filter(&spec)
        .map_err(|error| UsageError(format!("invalid value {spec:?} for {origin}: {error}")))?;

    let (journald, unreachable) = if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => (Some(layer), None),
            Err(error) => (None, Some(error)),
        }
    } else {
        (None, None)
    };
    let text = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
    });
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(journald)
        .with(text)
        .with(filter)
        .try_init();
    if let Some(error) = unreachable {
        tracing::warn!(
            "stderr is the journal, but its socket is unreachable ({error}); logging text"
        );
    }
    Ok(())
}

fn parse_filter(spec: &str) -> Result<Targets, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("empty".into());
    }
    // A lone word must be a level: `Targets` would read `verbose` as a target name
    // and silently log nothing from us.
    if !spec.contains(['=', ',']) {
        let level = LevelFilter::from_str(spec).map_err(|_| {
            "expected a level (error, warn, info, debug, trace, off) or target=level directives"
                .to_string()
        })?;
        return Ok(Targets::new().with_default(level));
    }
    Targets::from_str(spec).map_err(|error| error.to_string())
}

fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .is_ok_and(|stderr| names_file(&value, &std::fs::File::from(stderr)))
}

/// Whether a JOURNAL_STREAM value (`DEVICE:INODE`, see systemd.exec(5)) names `file`.
fn names_file(journal_stream: &str, file: &std::fs::File) -> bool {
    let Some((device, inode)) = journal_stream.split_once(':') else {
        return false;
    };
    let (Ok(device), Ok(inode)) = (device.parse::<u64>(), inode.parse::<u64>()) else {
        return false;
    };
    file.metadata()
        .is_ok_and(|metadata| metadata.dev() == device && metadata.ino() == inode)
}

#[cfg(test)]
mod tests {
    use super::{names_file, parse_filter};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn journal_stream_names_a_file_by_device_and_inode() {
        let file = std::fs::File::open("/proc/self/exe").expect("open /proc/self/exe");
        let metadata = file.metadata().expect("metadata");
        let exact = format!("{}:{}", metadata.dev(), metadata.ino());
        assert!(names_file(&exact, &file), "{exact}");
        for other in [
            format!("{}:{}", metadata.dev(), metadata.ino() + 1),
            format!("{}:{}", metadata.dev() + 1, metadata.ino()),
            format!("{}", metadata.ino()),
            format!("{}:x", metadata.dev()),
            String::new(),
        ] {
            assert!(!names_file(&other, &file), "{other:?} matched");
        }
    }

    #[test]
    fn levels_and_directives_parse() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "duet=debug",
            "warn,duet_server=trace",
        ] {
            assert!(parse_filter(good).is_ok(), "{good:?} should parse");
        }
    }

    #[test]
    fn a_lone_word_must_be_a_level() {
        assert!(parse_filter("verbose").is_err());
        assert!(parse_filter("").is_err());
    }
}
