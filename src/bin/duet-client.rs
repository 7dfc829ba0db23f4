use duet::cli;
use duet::client::{self, ClientArgs, Config};
use std::process::ExitCode;

const PROGRAM: &str = "duet-client";

fn main() -> ExitCode {
    let args = cli::parse::<ClientArgs>(PROGRAM);
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(error) => return error.report(PROGRAM),
    };
    if let Err(error) = duet::logging::init(args.parsed.log_level.as_deref()) {
        return error.report(PROGRAM);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(client::run(config))
}
