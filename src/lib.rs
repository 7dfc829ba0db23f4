//! duet: an HTTP server (`duet-server`) and a client that polls it (`duet-client`),
//! built to behave properly as container PID 1, under systemd and under supervisord.

pub mod cli;
pub mod client;
pub mod duration;
pub mod logging;
pub mod server;
pub mod shutdown;
