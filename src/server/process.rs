//! The standard process metrics of Prometheus' client libraries, read from /proc on each
//! scrape: resident and virtual memory, CPU seconds, open and maximum file descriptors,
//! start time.

use std::fmt::Write;
use std::io;
use std::sync::OnceLock;

pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
}

/// Fields of /proc/self/stat after the command name, numbered as in proc(5) from 3.
struct Stat<'a>(Vec<&'a str>);

impl Stat<'_> {
    fn field(&self, number: usize) -> io::Result<u64> {
        self.0
            .get(number - 3)
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| invalid(format!("/proc/self/stat has no number in field {number}")))
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn sysconf(name: libc::c_int) -> io::Result<u64> {
    // SAFETY: sysconf only reads a configuration value.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value)
        .ok()
        .filter(|&value| value > 0)
        .ok_or_else(io::Error::last_os_error)
}

fn boot_time_seconds() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or_else(|| invalid("/proc/stat has no btime line".into()))
}

fn max_fds() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// Seconds since the epoch at which this process started; it never changes.
fn start_time_seconds(started_ticks: u64, ticks: u64) -> io::Result<f64> {
    static START: OnceLock<f64> = OnceLock::new();
    if let Some(&start) = START.get() {
        return Ok(start);
    }
    let start = boot_time_seconds()? as f64 + started_ticks as f64 / ticks as f64;
    Ok(*START.get_or_init(|| start))
}

impl Process {
    pub fn read() -> io::Result<Process> {
        let ticks = sysconf(libc::_SC_CLK_TCK)?;
        let text = std::fs::read_to_string("/proc/self/stat")?;
        // The command name, in parentheses, may itself hold spaces and parentheses.
        let after_name = text
            .rfind(')')
            .map(|end| &text[end + 1..])
            .ok_or_else(|| invalid("/proc/self/stat has no command name".into()))?;
        let stat = Stat(after_name.split_whitespace().collect());
        Ok(Process {
            cpu_seconds: (stat.field(14)? + stat.field(15)?) as f64 / ticks as f64,
            resident_bytes: stat.field(24)? * sysconf(libc::_SC_PAGESIZE)?,
            virtual_bytes: stat.field(23)?,
            // Counts the directory's own descriptor too, as the client libraries do.
            open_fds: std::fs::read_dir("/proc/self/fd")?.count() as u64,
            max_fds: max_fds()?,
            start_time_seconds: start_time_seconds(stat.field(22)?, ticks)?,
        })
    }

    pub fn write_to(&self, out: &mut String) -> std::fmt::Result {
        let series: [(&str, &str, &str, String); 6] = [
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                format!("{:.2}", self.cpu_seconds),
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                self.resident_bytes.to_string(),
            ),
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                self.virtual_bytes.to_string(),
            ),
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                self.open_fds.to_string(),
            ),
            (
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                self.max_fds.to_string(),
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                format!("{:.2}", self.start_time_seconds),
            ),
        ];
        for (name, kind, help, value) in series {
            writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Process;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_this_process() {
        let process = Process::read().expect("read /proc/self");
        assert!(
            process.resident_bytes > 100 * 1024,
            "{}",
            process.resident_bytes
        );
        assert!(process.virtual_bytes >= process.resident_bytes);
        assert!(process.open_fds >= 3 && process.open_fds <= process.max_fds);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // Clock ticks and boot time are whole; the test itself began within the hour.
        assert!(
            process.start_time_seconds <= now + 1.0 && process.start_time_seconds > now - 3600.0,
            "start {} now {now}",
            process.start_time_seconds
        );
        assert!(process.cpu_seconds >= 0.0);
    }
}
