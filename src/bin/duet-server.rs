use duet::cli;
use duet::server::{self, Config, ServerArgs};
use std::process::ExitCode;

const PROGRAM: &str = "duet-server";

fn main() -> ExitCode {
    let args = cli::parse::<ServerArgs>(PROGRAM);
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(error) => return error.report(PROGRAM),
    };
    if let Err(error) = duet::logging::init(args.parsed.log_level.as_deref()) {
        return error.report(PROGRAM);
    }
    // SAFETY: no other thread runs yet (the runtime starts in server::run), as open needs
    // to clear LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES.
    let opened = unsafe { server::listen::open(config.listen, config.listen_fd) };
    let (listener, origin) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            match config.listen_fd {
                Some(fd) => tracing::error!("cannot serve on fd {fd}: {error}"),
                None => tracing::error!("cannot listen on {}: {error}", config.listen),
            }
            return ExitCode::FAILURE;
        }
    };
    server::run(config, listener, origin)
}
